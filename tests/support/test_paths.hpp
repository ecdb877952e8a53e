// Where the checkout and the build folder of this test binary are, found from the binary's own
// path (<checkout>/<build>/tests/<binary>): no absolute path is compiled into the tests, so
// ccache shares their objects between checkouts (a clean-clone CI run reuses this one's).
#pragma once

#include <string>

namespace silo::test {

// <checkout>: the repository root (schemas/, workflows/, tests/ ...).
const std::string& source_dir();
// <checkout>/<build>: the build folder (silod, tools/ ...).
const std::string& build_dir();
// <build>/silod, the server binary built beside this test.
std::string silod_binary();

}  // namespace silo::test
