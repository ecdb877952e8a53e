// The YAML files silod reads at start (issue 13): a workflow, a part-number schema and the
// configuration file, each from any bytes. A bad file is an error naming it, never a crash.
#include "config/config.hpp"
#include "domain/part_number.hpp"
#include "domain/workflow.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace silo;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto wf = parse_workflow(text, "fuzz.yaml");
    if (!wf && wf.error().message.find("fuzz.yaml") == std::string::npos) __builtin_trap();
    auto schema = parse_schema(text, "fuzz.yaml");
    if (!schema && schema.error().message.find("fuzz.yaml") == std::string::npos) __builtin_trap();
    static const std::string path =
        (std::filesystem::temp_directory_path() / ("silo-fuzz-config-" + std::to_string(::getpid()) + ".yaml")).string();
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(data, 1, size, f);
        std::fclose(f);
    }
    (void)load_config(path, {});
    return 0;
}
