// multipart/form-data bodies (issue 13): any bytes as a body streamed to a file, parsed with a
// fixed boundary. No crash, no leak, no temporary file left behind on refusal, text fields
// that keep the text rule, a file part whose size is what was written.
#include "core/strings.hpp"
#include "http/multipart.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace silo;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("silo-fuzz-multipart-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d.string();
    }();
    const std::string body = dir + "/body", file = dir + "/file";
    if (FILE* f = std::fopen(body.c_str(), "wb")) {
        std::fwrite(data, 1, size, f);
        std::fclose(f);
    }
    {
        auto form = http::parse_multipart("multipart/form-data; boundary=XyZ", body, "file", file);
        if (form) {
            for (const auto& [name, value] : form->fields)
                if (text_problem(name) || text_problem(value)) __builtin_trap();
            if (!form->file.empty() &&
                static_cast<std::int64_t>(std::filesystem::file_size(form->file.path())) != form->file_size)
                __builtin_trap();
        } else if (std::filesystem::exists(file)) {
            __builtin_trap();  // a refused form leaves no file
        }
    }  // the form's TempFile removes its file here
    if (std::filesystem::exists(file)) __builtin_trap();
    return 0;
}
