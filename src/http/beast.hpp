// The one wrapper through which silod includes Asio and Beast (precompiled in src/http).
// g++ 12 + Boost 1.74 in C++20 needs <utility> before any Asio header.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
