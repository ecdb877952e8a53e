#include "support/test_paths.hpp"

#include <filesystem>
#include <stdexcept>

namespace fs = std::filesystem;

namespace silo::test {

namespace {
fs::path self() {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
    return exe;
}
}  // namespace

const std::string& build_dir() {
    static const std::string dir = self().parent_path().parent_path().string();  // <build>/tests/<binary>
    return dir;
}

const std::string& source_dir() {
    static const std::string dir = fs::path(build_dir()).parent_path().string();
    return dir;
}

std::string silod_binary() { return build_dir() + "/silod"; }

}  // namespace silo::test
