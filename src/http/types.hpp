// Beast-free request/response types shared by the router, the api adapters and the server.
#pragma once

#include "core/error.hpp"
#include "core/event.hpp"
#include "core/role.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace silo::http {

struct HttpRequest {
    std::string method;   // upper case: GET, POST, ...
    std::string target;   // raw request target
    std::string path;     // raw (still percent-encoded) path
    std::map<std::string, std::string> query;    // decoded; the first of repeated names wins
    std::map<std::string, std::string> headers;  // lower-case names
    std::map<std::string, std::string> params;   // decoded path parameters of the route
    std::string body;       // JSON / form routes
    std::string body_file;  // upload routes: temporary file holding the streamed body
    std::int64_t body_size = 0;
    std::string request_id;
    std::string remote_addr;
    Principal principal;    // set by authentication (synthetic admin when auth is off)

    // A header value, or "" when absent. name must be lower case.
    const std::string& header(const std::string& name) const;
    // A query parameter, or "" when absent.
    const std::string& query_param(const std::string& name) const;
    bool has_query(const std::string& name) const { return query.count(name) != 0; }
    const std::string& param(const std::string& name) const;
};

using silo::StreamSink;

struct HttpResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_type = "application/json";
    std::string file_path;  // when set, the body is streamed from this file (downloads)
    // When set, the response is an event stream: the server writes the SSE header, then calls
    // this with the stream's sink (on the I/O thread).
    std::function<void(std::shared_ptr<StreamSink>)> on_stream;

    static HttpResponse json(int status, const nlohmann::json& body);
    static HttpResponse error(const Error& e);
    static HttpResponse no_content();
    HttpResponse& with_header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

// HTTP status for an error code (the one mapping of the project).
int status_for(Errc code);
// {"error": code, "message": ..., extra...}
nlohmann::json error_body(const Error& e);

}  // namespace silo::http
