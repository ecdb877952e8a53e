#include "http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace silo;
using namespace silo::http;

namespace {
Handler echo(std::string tag) {
    return [tag](HttpRequest& req) -> Result<HttpResponse> {
        nlohmann::json params = req.params;
        return HttpResponse::json(200, {{"tag", tag}, {"params", params}, {"user", req.principal.username}});
    };
}

Router make_router() {
    Router r;
    r.add("GET", "/api/items", Access::viewer, BodyKind::none, echo("list"));
    r.add("POST", "/api/items", Access::editor, BodyKind::json, echo("create"));
    r.add("GET", "/api/items/{partNumber}", Access::viewer, BodyKind::none, echo("get"));
    r.add("GET", "/api/items/by-uuid/{uuid}", Access::viewer, BodyKind::none, echo("by-uuid"));
    r.add("GET", "/api/items/{pn}/file/{rev}", Access::viewer, BodyKind::none, echo("file"));
    r.add("DELETE", "/api/admin/thing", Access::admin, BodyKind::none, echo("admin"));
    r.add("GET", "/health", Access::public_, BodyKind::none, echo("health"));
    r.add("GET", "/boom", Access::viewer, BodyKind::none, [](HttpRequest&) -> Result<HttpResponse> {
        throw std::runtime_error("secret detail");
    });
    return r;
}

nlohmann::json body(const HttpResponse& r) { return nlohmann::json::parse(r.body); }
}  // namespace

TEST(Router, MatchesLiteralsBeforeParameters) {
    auto r = make_router();
    auto m = r.match("GET", "/api/items/by-uuid/abc");
    ASSERT_TRUE(m.route);
    EXPECT_EQ(m.route->pattern, "/api/items/by-uuid/{uuid}");
    EXPECT_EQ(m.params["uuid"], "abc");
    auto g = r.match("GET", "/api/items/F01%2D0001");
    ASSERT_TRUE(g.route);
    EXPECT_EQ(g.params["partNumber"], "F01-0001");
    auto f = r.match("GET", "/api/items/A%2FB/file/3");
    ASSERT_TRUE(f.route);
    EXPECT_EQ(f.params["pn"], "A/B") << "an encoded slash stays inside its segment";
    EXPECT_EQ(f.params["rev"], "3");
}

TEST(Router, SlowRoutesAreTheMarkedOnesAndUploads) {
    Router r;
    r.add("POST", "/login", Access::public_, BodyKind::json, echo("login"), Pace::slow);
    r.add("PUT", "/api/items/{pn}/work", Access::editor, BodyKind::upload, echo("upload"));
    r.add("POST", "/api/items", Access::editor, BodyKind::json, echo("create"));
    EXPECT_TRUE(r.match("POST", "/login").route->is_slow());
    EXPECT_TRUE(r.match("PUT", "/api/items/A/work").route->is_slow());
    EXPECT_FALSE(r.match("POST", "/api/items").route->is_slow());
}

TEST(Router, NotFoundMethodNotAllowedAndBadEncoding) {
    auto r = make_router();
    auto nf = r.match("GET", "/api/nothing");
    EXPECT_FALSE(nf.route);
    EXPECT_EQ(nf.error.code, Errc::not_found);
    auto trailing = r.match("GET", "/api/items/");
    EXPECT_EQ(trailing.error.code, Errc::not_found);
    auto na = r.match("PUT", "/api/items");
    EXPECT_EQ(na.error.code, Errc::method_not_allowed);
    EXPECT_EQ(na.allow, "GET, HEAD, POST");  // HEAD is GET without the body
    auto resp = Router::reject(na);
    EXPECT_EQ(resp.status, 405);
    EXPECT_EQ(body(resp)["error"], "method_not_allowed");
    auto bad = r.match("GET", "/api/items/%zz");
    EXPECT_EQ(bad.error.code, Errc::bad_request);
    // Decoded path parameters keep the text rule (issue 20): no NUL, valid UTF-8.
    for (const char* path : {"/api/items/a%00b", "/api/items/%FF", "/api/items/%C0%80", "/api/items/%1B"}) {
        auto t = r.match("GET", path);
        EXPECT_FALSE(t.route) << path;
        EXPECT_EQ(t.error.code, Errc::bad_request) << path;
    }
    // HEAD finds the GET route; with no GET there, it is 405 like any other method.
    auto head = r.match("HEAD", "/api/items");
    ASSERT_TRUE(head.route);
    EXPECT_EQ(head.route->method, "GET");
    EXPECT_EQ(r.match("HEAD", "/api/admin/thing").error.code, Errc::method_not_allowed);
}

TEST(Router, PipelineAuthenticatesAndAuthorisesByRouteTable) {
    auto r = make_router();
    r.authenticate = [](HttpRequest& req) -> Result<Principal> {
        auto who = req.header("x-user");
        if (who.empty()) return Error(Errc::unauthorized, "who are you");
        Principal p;
        p.username = who;
        p.role = *parse_role(who);
        return p;
    };
    auto call = [&](const std::string& method, const std::string& path, const std::string& user) {
        HttpRequest req;
        req.method = method;
        req.path = path;
        if (!user.empty()) req.headers["x-user"] = user;
        auto m = r.match(method, path);
        return r.handle(m, req);
    };
    EXPECT_EQ(call("GET", "/health", "").status, 200) << "public needs no caller";
    EXPECT_EQ(call("GET", "/api/items", "").status, 401);
    EXPECT_EQ(call("GET", "/api/items", "viewer").status, 200);
    EXPECT_EQ(call("POST", "/api/items", "viewer").status, 403);
    EXPECT_EQ(call("POST", "/api/items", "editor").status, 200);
    EXPECT_EQ(call("DELETE", "/api/admin/thing", "editor").status, 403);
    EXPECT_EQ(call("DELETE", "/api/admin/thing", "admin").status, 200);

    r.read_only = true;
    auto ro = call("POST", "/api/items", "editor");
    EXPECT_EQ(ro.status, 503);
    EXPECT_EQ(body(ro)["error"], "read_only");
    EXPECT_EQ(call("GET", "/api/items", "viewer").status, 200);
}

TEST(Router, WithoutAuthenticationEveryoneIsASyntheticAdmin) {
    auto r = make_router();
    HttpRequest req;
    auto m = r.match("DELETE", "/api/admin/thing");
    auto resp = r.handle(m, req);
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(body(resp)["user"], "admin");
}

TEST(Router, HandlerExceptionsBecomeInternalWithoutDetail) {
    auto r = make_router();
    HttpRequest req;
    auto m = r.match("GET", "/boom");
    auto resp = r.handle(m, req);
    EXPECT_EQ(resp.status, 500);
    EXPECT_EQ(body(resp)["error"], "internal");
    EXPECT_EQ(resp.body.find("secret detail"), std::string::npos);
}

TEST(Router, ParseTargetDecodesQuery) {
    auto t = parse_target("/api/items?q=a+b%20c&limit=5&q=second");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->first, "/api/items");
    EXPECT_EQ(t->second["q"], "a b c");
    EXPECT_EQ(t->second["limit"], "5");
    EXPECT_FALSE(parse_target("/x?q=%zz").ok());
    EXPECT_FALSE(parse_target("http://host/x").ok());
}
