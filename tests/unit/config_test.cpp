// Unit tests for src/config: defaults, the YAML file, SILO_* overrides, errors, masking.
#include "config/config.hpp"
#include "support/test_paths.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace silo {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "silo-config-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // Writes silod.yaml into the temp dir and returns its path.
    std::string write(const std::string& text, const std::string& name = "silod.yaml") {
        const std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }

    // Loads text as a config file and returns the error message (test fails if it loads).
    std::string error_of(const std::string& text, const Env& env = {}) {
        const std::string path = write(text);
        auto r = load_config(path, env);
        EXPECT_FALSE(r.ok()) << "loaded unexpectedly:\n" << text;
        if (r.ok()) return "";
        EXPECT_EQ(r.error().code, Errc::bad_request);
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << "one line only";
        return r.error().message;
    }

    std::string file() const { return (dir_ / "silod.yaml").string(); }

    fs::path dir_;
};

void expect_defaults(const Config& c) {
    const Config d;
    EXPECT_EQ(c.server.host, "127.0.0.1");
    EXPECT_EQ(c.server.port, 8080);
    EXPECT_FALSE(c.server.read_only);
    EXPECT_EQ(c.server.max_json_bytes, d.server.max_json_bytes);
    EXPECT_EQ(c.server.max_upload_bytes, d.server.max_upload_bytes);
    EXPECT_EQ(c.database.driver, "sqlite");
    EXPECT_EQ(c.database.path, "./data/silo.db");
    EXPECT_EQ(c.database.url, "");
    EXPECT_EQ(c.storage.root_dir, "./data/files");
    EXPECT_EQ(c.schemas.directory, "./schemas");
    EXPECT_EQ(c.workflows.directory, "./workflows");
    EXPECT_TRUE(c.auth.enabled);
    EXPECT_EQ(c.auth.default_admin_username, "admin");
    EXPECT_EQ(c.auth.default_admin_password, "");
    EXPECT_EQ(c.events.heartbeat_seconds, 30);
    EXPECT_EQ(c.events.retention_hours, 168);
    EXPECT_EQ(c.events.queue_limit, 1024);
    EXPECT_EQ(c.events.max_streams_per_user, 1000);
    EXPECT_FALSE(c.approvals.allow_self_approval);
    EXPECT_TRUE(c.sessions.enabled);
    EXPECT_EQ(c.sessions.session_timeout_minutes, 15);
    EXPECT_EQ(c.sessions.disconnect_grace_seconds, 60);
    EXPECT_EQ(c.sessions.sweep_interval_seconds, 30);
    EXPECT_FALSE(c.sessions.force_release_requires_approval);
    EXPECT_EQ(c.sessions.force_release_workflow, "session-override");
    EXPECT_EQ(c.sessions.checkpoint_ttl_hours, 168);
    EXPECT_EQ(c.sessions.checkpoint_max_per_item, 5);
}

// ---- defaults and valid files --------------------------------------------------------------

TEST_F(ConfigTest, NoFileGivesDefaults) {
    auto r = load_config("", {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    expect_defaults(*r);
    EXPECT_TRUE(r->warnings.empty());
}

TEST_F(ConfigTest, EmptyFileGivesDefaults) {
    auto r = load_config(write(""), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    expect_defaults(*r);
}

TEST_F(ConfigTest, CommentsOnlyFileGivesDefaults) {
    auto r = load_config(write("# nothing here\n   # really\n"), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    expect_defaults(*r);
}

TEST_F(ConfigTest, EmptySectionKeepsDefaults) {
    auto r = load_config(write("server:\nmodules:\n  sessions:\n"), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    expect_defaults(*r);
}

TEST_F(ConfigTest, FullValidFile) {
    const std::string yaml = R"(# every key of API.md §10
server:   {host: 0.0.0.0, port: 0, read_only: true, max_json_bytes: 2048, max_upload_bytes: 1099511627776}
database: {driver: postgres, path: /var/silo.db, url: "postgresql://silo:pw@db/silo"}
storage:  {root_dir: /srv/files}
schemas:  {directory: /etc/silo/schemas}
workflows: {directory: /etc/silo/workflows}
auth:     {enabled: false, local: {default_admin_username: root.admin-1, default_admin_password: "s3cret"}}
events:   {heartbeat_seconds: 5, retention_hours: 24, queue_limit: 16, max_streams_per_user: 0}
approvals: {allow_self_approval: yes}
modules:
  sessions:
    enabled: false
    session_timeout_minutes: 1
    disconnect_grace_seconds: 0
    sweep_interval_seconds: 2
    force_release_requires_approval: true
    force_release_workflow: engineering-change
    checkpoint_ttl_hours: 3
    checkpoint_max_per_item: 7
)";
    auto r = load_config(write(yaml), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    const Config& c = *r;
    EXPECT_EQ(c.server.host, "0.0.0.0");
    EXPECT_EQ(c.server.port, 0);
    EXPECT_TRUE(c.server.read_only);
    EXPECT_EQ(c.server.max_json_bytes, 2048);
    EXPECT_EQ(c.server.max_upload_bytes, 1099511627776LL);
    EXPECT_EQ(c.database.driver, "postgres");
    EXPECT_EQ(c.database.path, "/var/silo.db");
    EXPECT_EQ(c.database.url, "postgresql://silo:pw@db/silo");
    EXPECT_EQ(c.storage.root_dir, "/srv/files");
    EXPECT_EQ(c.schemas.directory, "/etc/silo/schemas");
    EXPECT_EQ(c.workflows.directory, "/etc/silo/workflows");
    EXPECT_FALSE(c.auth.enabled);
    EXPECT_EQ(c.auth.default_admin_username, "root.admin-1");
    EXPECT_EQ(c.auth.default_admin_password, "s3cret");
    EXPECT_EQ(c.events.heartbeat_seconds, 5);
    EXPECT_EQ(c.events.retention_hours, 24);
    EXPECT_EQ(c.events.queue_limit, 16);
    EXPECT_EQ(c.events.max_streams_per_user, 0);
    EXPECT_TRUE(c.approvals.allow_self_approval);
    EXPECT_FALSE(c.sessions.enabled);
    EXPECT_EQ(c.sessions.session_timeout_minutes, 1);
    EXPECT_EQ(c.sessions.disconnect_grace_seconds, 0);
    EXPECT_EQ(c.sessions.sweep_interval_seconds, 2);
    EXPECT_TRUE(c.sessions.force_release_requires_approval);
    EXPECT_EQ(c.sessions.force_release_workflow, "engineering-change");
    EXPECT_EQ(c.sessions.checkpoint_ttl_hours, 3);
    EXPECT_EQ(c.sessions.checkpoint_max_per_item, 7);
}

TEST_F(ConfigTest, PartialFileKeepsOtherDefaults) {
    auto r = load_config(write("server:\n  port: 9000\n"), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->server.port, 9000);
    EXPECT_EQ(r->server.host, "127.0.0.1");
    EXPECT_EQ(r->events.heartbeat_seconds, 30);
}

TEST_F(ConfigTest, RangeEdgesAreAccepted) {
    auto r = load_config(
        write("server: {port: 65535, max_json_bytes: 67108864, max_upload_bytes: 1024}\n"
              "events: {heartbeat_seconds: 3600, retention_hours: 87600, "
              "queue_limit: 1000000}\n"),
        {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->server.port, 65535);
    EXPECT_EQ(r->server.max_json_bytes, 64 * 1024 * 1024);
    EXPECT_EQ(r->events.queue_limit, 1000000);
}

// ---- file errors -----------------------------------------------------------------------------

TEST_F(ConfigTest, UnknownTopLevelKey) {
    EXPECT_EQ(error_of("servr:\n  port: 1\n"), file() + ": unknown key 'servr'");
}

TEST_F(ConfigTest, UnknownNestedKey) {
    EXPECT_EQ(error_of("server:\n  prot: 8080\n"), file() + ": unknown key 'server.prot'");
    EXPECT_EQ(error_of("auth: {local: {admin: x}}\n"), file() + ": unknown key 'auth.local.admin'");
    EXPECT_EQ(error_of("modules: {sessions: {timeout: 3}}\n"),
              file() + ": unknown key 'modules.sessions.timeout'");
    EXPECT_EQ(error_of("modules: {locks: {}}\n"), file() + ": unknown key 'modules.locks'");
    // Keys nest by structure only; a dotted key does not reach a nested setting.
    EXPECT_EQ(error_of("server.port: 1\n"), file() + ": unknown key 'server.port'");
    // Settings of one section are not accepted in another.
    EXPECT_EQ(error_of("auth: {default_admin_username: x}\n"),
              file() + ": unknown key 'auth.default_admin_username'");
}

TEST_F(ConfigTest, DuplicateKey) {
    EXPECT_EQ(error_of("server:\n  port: 1\n  port: 2\n"),
              file() + ": duplicate key 'server.port'");
}

TEST_F(ConfigTest, WrongTypeInteger) {
    EXPECT_EQ(error_of("server: {port: abc}\n"),
              file() + ": 'server.port' must be an integer from 0 to 65535, got \"abc\"");
    EXPECT_THAT(error_of("server: {port: 1.5}\n"), HasSubstr("got \"1.5\""));
    EXPECT_THAT(error_of("server: {port: 12abc}\n"), HasSubstr("got \"12abc\""));
    EXPECT_THAT(error_of("server: {port: 0x50}\n"), HasSubstr("'server.port' must be an integer"));
    EXPECT_THAT(error_of("server: {port: }\n"), HasSubstr("got no value"));
    EXPECT_EQ(
        error_of("events: {max_streams_per_user: many}\n"),
        file() + ": 'events.max_streams_per_user' must be an integer of at least 0, got \"many\"");
}

TEST_F(ConfigTest, IntegerOverflow) {
    EXPECT_THAT(error_of("server: {port: 99999999999999999999999}\n"),
                StartsWith(file() + ": 'server.port' must be an integer from 0 to 65535"));
    // Fits in 64 bits but not in the int field.
    EXPECT_EQ(
        error_of("events: {max_streams_per_user: 3000000000}\n"),
        file() + ": 'events.max_streams_per_user' must be at most 2147483647, got 3000000000");
}

TEST_F(ConfigTest, WrongTypeBoolean) {
    EXPECT_EQ(error_of("server: {read_only: abc}\n"),
              file() + ": 'server.read_only' must be true or false, got \"abc\"");
    EXPECT_THAT(error_of("auth: {enabled: 1}\n"),
                HasSubstr("'auth.enabled' must be true or false"));
}

TEST_F(ConfigTest, WrongTypeString) {
    EXPECT_EQ(error_of("server: {host: [a, b]}\n"),
              file() + ": 'server.host' must be a string, got a sequence");
    EXPECT_THAT(error_of("auth: {local: {default_admin_password: }}\n"),
                HasSubstr("'auth.local.default_admin_password' must be a string, got no value"));
}

TEST_F(ConfigTest, ScalarWhereMappingExpected) {
    EXPECT_EQ(error_of("server: 8080\n"), file() + ": 'server' must be a mapping, got a scalar");
    EXPECT_EQ(error_of("modules: {sessions: true}\n"),
              file() + ": 'modules.sessions' must be a mapping, got a scalar");
    EXPECT_EQ(error_of("auth: {local: [a]}\n"),
              file() + ": 'auth.local' must be a mapping, got a sequence");
}

TEST_F(ConfigTest, MappingWhereScalarExpected) {
    EXPECT_EQ(error_of("server: {port: {value: 1}}\n"),
              file() + ": 'server.port' must be an integer from 0 to 65535, got a mapping");
}

TEST_F(ConfigTest, TopLevelMustBeMapping) {
    EXPECT_EQ(error_of("- server\n- port\n"),
              file() + ": top level must be a mapping of sections, got a sequence");
    EXPECT_THAT(error_of("just some words\n"),
                StartsWith(file() + ": top level must be a mapping"));
}

TEST_F(ConfigTest, NotValidYaml) {
    const std::string msg = error_of("server: {port: 8080\n");
    EXPECT_THAT(msg, StartsWith(file() + ": not valid YAML: "));
    EXPECT_THAT(msg, HasSubstr("line"));
    EXPECT_THAT(error_of("\t: :\n{{{{"), StartsWith(file() + ": not valid YAML: "));
}

TEST_F(ConfigTest, SeveralDocuments) {
    EXPECT_THAT(error_of("server: {port: 1}\n---\nserver: {port: 2}\n"),
                HasSubstr("must hold one YAML document"));
}

// Found by tests/fuzz/fuzz_yaml: yaml-cpp 0.7's LoadAll loops for ever (allocating) on this
// mangled workflow file; the loader must answer with an error instead.
TEST_F(ConfigTest, AFileThatHungYamlCppsLoadAllIsAnError) {
    std::ifstream in(silo::test::source_dir() + "/tests/fuzz/corpus/fuzz_yaml/regress-loadall-loop", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    ASSERT_FALSE(text.str().empty());
    EXPECT_THAT(error_of(text.str()), StartsWith(file() + ": "));
}

TEST_F(ConfigTest, MissingFile) {
    const std::string path = (dir_ / "nope.yaml").string();
    auto r = load_config(path, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    EXPECT_THAT(r.error().message, StartsWith(path + ": cannot read file: "));
    EXPECT_THAT(r.error().message, HasSubstr("No such file"));
}

TEST_F(ConfigTest, DirectoryIsNotAFile) {
    auto r = load_config(dir_.string(), {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, dir_.string() + ": cannot read file: is a directory");
}

TEST_F(ConfigTest, OutOfRange) {
    EXPECT_EQ(error_of("server: {port: 70000}\n"),
              file() + ": 'server.port' must be at most 65535, got 70000");
    EXPECT_EQ(error_of("server: {port: -1}\n"),
              file() + ": 'server.port' must be at least 0, got -1");
    EXPECT_THAT(error_of("events: {heartbeat_seconds: 0}\n"),
                StartsWith(file() + ": 'events.heartbeat_seconds' must be at least 1"));
    EXPECT_THAT(error_of("events: {heartbeat_seconds: 3601}\n"), HasSubstr("must be at most 3600"));
    EXPECT_THAT(error_of("events: {retention_hours: 87601}\n"),
                HasSubstr("'events.retention_hours'"));
    EXPECT_THAT(error_of("events: {queue_limit: 15}\n"), HasSubstr("must be at least 16"));
    EXPECT_THAT(error_of("events: {queue_limit: 1000001}\n"), HasSubstr("must be at most 1000000"));
    EXPECT_THAT(error_of("events: {max_streams_per_user: -1}\n"), HasSubstr("must be at least 0"));
    EXPECT_THAT(error_of("server: {max_json_bytes: 1023}\n"), HasSubstr("must be at least 1024"));
    EXPECT_THAT(error_of("server: {max_json_bytes: 67108865}\n"),
                HasSubstr("must be at most 67108864"));
    EXPECT_THAT(error_of("server: {max_upload_bytes: 1099511627777}\n"),
                HasSubstr("must be at most 1099511627776"));
    EXPECT_THAT(error_of("modules: {sessions: {session_timeout_minutes: 0}}\n"),
                HasSubstr("'modules.sessions.session_timeout_minutes' must be at least 1"));
    EXPECT_THAT(error_of("modules: {sessions: {disconnect_grace_seconds: -5}}\n"),
                HasSubstr("must be at least 0"));
    EXPECT_THAT(error_of("modules: {sessions: {sweep_interval_seconds: 0}}\n"),
                HasSubstr("at least 1"));
    EXPECT_THAT(error_of("modules: {sessions: {checkpoint_ttl_hours: 0}}\n"),
                HasSubstr("at least 1"));
    EXPECT_THAT(error_of("modules: {sessions: {checkpoint_max_per_item: 0}}\n"),
                HasSubstr("at least 1"));
}

TEST_F(ConfigTest, StringRules) {
    EXPECT_EQ(error_of("database: {driver: mysql}\n"),
              file() + ": 'database.driver' must be one of sqlite, postgres, got \"mysql\"");
    EXPECT_EQ(error_of("server: {host: \"\"}\n"), file() + ": 'server.host' must not be empty");
    EXPECT_THAT(error_of("database: {path: ''}\n"), HasSubstr("'database.path' must not be empty"));
    EXPECT_THAT(error_of("storage: {root_dir: ''}\n"),
                HasSubstr("'storage.root_dir' must not be empty"));
    EXPECT_THAT(error_of("schemas: {directory: ''}\n"), HasSubstr("must not be empty"));
    EXPECT_THAT(error_of("workflows: {directory: ''}\n"), HasSubstr("must not be empty"));
    EXPECT_THAT(error_of("modules: {sessions: {force_release_workflow: ''}}\n"),
                HasSubstr("'modules.sessions.force_release_workflow' must not be empty"));
    EXPECT_THAT(error_of("auth: {local: {default_admin_username: 'bad name'}}\n"),
                HasSubstr("'auth.local.default_admin_username' must be 1 to 64 characters"));
    EXPECT_THAT(error_of("auth: {local: {default_admin_username: ''}}\n"), HasSubstr("1 to 64"));
    EXPECT_THAT(error_of("auth: {local: {default_admin_username: " + std::string(65, 'a') + "}}\n"),
                HasSubstr("1 to 64"));
    auto ok = load_config(
        write("auth: {local: {default_admin_username: " + std::string(64, 'a') + "}}\n"), {});
    EXPECT_TRUE(ok.ok());
}

TEST_F(ConfigTest, PostgresNeedsUrl) {
    EXPECT_EQ(error_of("database: {driver: postgres}\n"),
              file() + ": 'database.url' is required when database.driver is postgres");
    auto r = load_config("", {{"SILO_DATABASE_DRIVER", "postgres"}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "SILO_DATABASE_DRIVER: 'database.url' is required when database.driver is postgres");
    auto ok = load_config(
        "", {{"SILO_DATABASE_DRIVER", "postgres"}, {"SILO_DATABASE_URL", "postgresql://u@h/db"}});
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->database.url, "postgresql://u@h/db");
}

// ---- environment -----------------------------------------------------------------------------

TEST_F(ConfigTest, EnvOverridesFile) {
    const std::string path = write(
        "server: {port: 9000, host: 10.0.0.1}\nevents: {heartbeat_seconds: 5}\n"
        "modules: {sessions: {session_timeout_minutes: 20, enabled: true}}\n");
    auto r = load_config(path, {{"SILO_SERVER_PORT", "9100"},
                                {"SILO_EVENTS_HEARTBEAT_SECONDS", "7"},
                                {"SILO_MODULES_SESSIONS_SESSION_TIMEOUT_MINUTES", "45"},
                                {"SILO_MODULES_SESSIONS_ENABLED", "0"},
                                {"SILO_AUTH_ENABLED", "false"},
                                {"SILO_SERVER_READ_ONLY", "1"},
                                {"SILO_SERVER_MAX_UPLOAD_BYTES", "2048"},
                                {"SILO_AUTH_LOCAL_DEFAULT_ADMIN_USERNAME", "boss"},
                                {"SILO_APPROVALS_ALLOW_SELF_APPROVAL", "TRUE"},
                                {"PATH", "/usr/bin"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->server.port, 9100);
    EXPECT_EQ(r->server.host, "10.0.0.1");  // from the file
    EXPECT_EQ(r->events.heartbeat_seconds, 7);
    EXPECT_EQ(r->sessions.session_timeout_minutes, 45);
    EXPECT_FALSE(r->sessions.enabled);
    EXPECT_FALSE(r->auth.enabled);
    EXPECT_TRUE(r->server.read_only);
    EXPECT_EQ(r->server.max_upload_bytes, 2048);
    EXPECT_EQ(r->auth.default_admin_username, "boss");
    EXPECT_TRUE(r->approvals.allow_self_approval);
    EXPECT_TRUE(r->warnings.empty());
}

TEST_F(ConfigTest, EnvOverridesDefaultsWithoutFile) {
    auto r = load_config("", {{"SILO_DATABASE_URL", "postgresql://a:b@c/d"},
                              {"SILO_DATABASE_DRIVER", "postgres"},
                              {"SILO_STORAGE_ROOT_DIR", "/x"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->database.driver, "postgres");
    EXPECT_EQ(r->database.url, "postgresql://a:b@c/d");
    EXPECT_EQ(r->storage.root_dir, "/x");
}

TEST_F(ConfigTest, EnvRepairsOutOfRangeFileValue) {
    auto r = load_config(write("server: {port: 70000}\n"), {{"SILO_SERVER_PORT", "8081"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->server.port, 8081);
}

TEST_F(ConfigTest, EnvValueOutOfRangeNamesVariable) {
    auto r = load_config(write("events: {heartbeat_seconds: 10}\n"),
                         {{"SILO_EVENTS_HEARTBEAT_SECONDS", "0"}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "SILO_EVENTS_HEARTBEAT_SECONDS: must be at least 1, got 0");
}

TEST_F(ConfigTest, BadEnvValue) {
    auto r = load_config("", {{"SILO_SERVER_PORT", "x"}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    EXPECT_EQ(r.error().message, "SILO_SERVER_PORT: must be an integer from 0 to 65535, got \"x\"");

    auto b = load_config("", {{"SILO_AUTH_ENABLED", "yes"}});
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().message, "SILO_AUTH_ENABLED: must be true or false, got \"yes\"");

    auto d = load_config("", {{"SILO_DATABASE_DRIVER", "oracle"}});
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().message,
              "SILO_DATABASE_DRIVER: must be one of sqlite, postgres, got \"oracle\"");

    auto e = load_config("", {{"SILO_SERVER_HOST", ""}});
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().message, "SILO_SERVER_HOST: must not be empty");
}

TEST_F(ConfigTest, AdminAliases) {
    auto r = load_config("", {{"SILO_ADMIN_USERNAME", "root"}, {"SILO_ADMIN_PASSWORD", "hunter2"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->auth.default_admin_username, "root");
    EXPECT_EQ(r->auth.default_admin_password, "hunter2");
    EXPECT_TRUE(r->warnings.empty());

    auto bad = load_config("", {{"SILO_ADMIN_USERNAME", "no spaces"}});
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.error().message, StartsWith("SILO_ADMIN_USERNAME: must be 1 to 64 characters"));
}

TEST_F(ConfigTest, AdminAliasOverridesFile) {
    auto r = load_config(write("auth: {local: {default_admin_username: fileadmin}}\n"),
                         {{"SILO_ADMIN_USERNAME", "envadmin"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->auth.default_admin_username, "envadmin");
}

TEST_F(ConfigTest, FullNameBeatsAlias) {
    auto r = load_config(
        "", {{"SILO_ADMIN_PASSWORD", "short"}, {"SILO_AUTH_LOCAL_DEFAULT_ADMIN_PASSWORD", "long"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->auth.default_admin_password, "long");
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_THAT(r->warnings[0], HasSubstr("SILO_ADMIN_PASSWORD"));
}

TEST_F(ConfigTest, UnknownSiloVariableWarns) {
    auto r = load_config("", {{"SILO_FOO", "1"}, {"SILO_SERVER_PROT", "1"}, {"HOME", "/root"}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->warnings.size(), 2u);
    EXPECT_EQ(r->warnings[0], "ignoring unknown environment variable SILO_FOO");
    EXPECT_EQ(r->warnings[1], "ignoring unknown environment variable SILO_SERVER_PROT");
    expect_defaults(*r);
}

TEST_F(ConfigTest, SiloEnvironmentReadsProcessEnv) {
    ::setenv("SILO_CONFIG_TEST_PROBE", "a=b", 1);
    ::setenv("NOT_SILO_CONFIG_TEST", "x", 1);
    auto env = silo_environment();
    ::unsetenv("SILO_CONFIG_TEST_PROBE");
    ::unsetenv("NOT_SILO_CONFIG_TEST");
    ASSERT_TRUE(env.count("SILO_CONFIG_TEST_PROBE"));
    EXPECT_EQ(env["SILO_CONFIG_TEST_PROBE"], "a=b");
    for (const auto& [k, v] : env) EXPECT_THAT(k, StartsWith("SILO_"));
}

// ---- config_to_json ----------------------------------------------------------------------------

TEST_F(ConfigTest, JsonHasYamlShape) {
    Config c;
    auto j = config_to_json(c, true);
    EXPECT_EQ(j["server"]["port"], 8080);
    EXPECT_EQ(j["server"]["host"], "127.0.0.1");
    EXPECT_EQ(j["server"]["read_only"], false);
    EXPECT_EQ(j["server"]["max_upload_bytes"], 1073741824);
    EXPECT_EQ(j["database"]["driver"], "sqlite");
    EXPECT_EQ(j["auth"]["enabled"], true);
    EXPECT_EQ(j["auth"]["local"]["default_admin_username"], "admin");
    EXPECT_EQ(j["auth"]["local"]["default_admin_password"], "");  // empty stays empty
    EXPECT_EQ(j["database"]["url"], "");
    EXPECT_EQ(j["modules"]["sessions"]["session_timeout_minutes"], 15);
    EXPECT_EQ(j["modules"]["sessions"]["force_release_workflow"], "session-override");
    EXPECT_EQ(j["events"]["queue_limit"], 1024);
    EXPECT_EQ(j["approvals"]["allow_self_approval"], false);
    EXPECT_EQ(j.size(), 9u);
    EXPECT_EQ(j["modules"].size(), 1u);
    EXPECT_EQ(j["auth"].size(), 2u);
    EXPECT_EQ(j["auth"]["local"].size(), 2u);
    EXPECT_EQ(j["server"].size(), 10u);
    EXPECT_EQ(j["server"]["header_timeout_seconds"], 20);
    EXPECT_EQ(j["server"]["keepalive_timeout_seconds"], 60);
    EXPECT_EQ(j["server"]["body_idle_timeout_seconds"], 60);
    EXPECT_EQ(j["server"]["max_connections"], 4096);
    EXPECT_EQ(j["server"]["max_header_fields"], 100);
    EXPECT_EQ(j["events"]["stall_timeout_seconds"], 60);
    EXPECT_EQ(j["modules"]["sessions"].size(), 8u);
}

TEST_F(ConfigTest, JsonRoundTripsThroughFile) {
    // The printed config is itself a valid config file (JSON is YAML).
    auto r = load_config(
        write("server: {port: 1234}\nmodules: {sessions: {checkpoint_max_per_item: 9}}\n"), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto again = load_config(write(config_to_json(*r, false).dump(2), "again.yaml"), {});
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(config_to_json(*again, false), config_to_json(*r, false));
}

TEST_F(ConfigTest, JsonMasksSecrets) {
    Config c;
    c.auth.default_admin_password = "hunter2";
    c.database.url = "postgresql://silo:secret@db.example:5432/silo?sslmode=require";
    auto masked = config_to_json(c, true);
    EXPECT_EQ(masked["auth"]["local"]["default_admin_password"], "***");
    EXPECT_EQ(masked["database"]["url"],
              "postgresql://silo:***@db.example:5432/silo?sslmode=require");
    EXPECT_EQ(masked.dump().find("secret"), std::string::npos);
    EXPECT_EQ(masked.dump().find("hunter2"), std::string::npos);

    auto plain = config_to_json(c, false);
    EXPECT_EQ(plain["auth"]["local"]["default_admin_password"], "hunter2");
    EXPECT_EQ(plain["database"]["url"], c.database.url);
}

TEST_F(ConfigTest, JsonMasksUrlForms) {
    auto mask = [](const std::string& url) {
        Config c;
        c.database.url = url;
        return config_to_json(c, true)["database"]["url"].get<std::string>();
    };
    EXPECT_EQ(mask("postgresql://user@host/db"), "postgresql://user@host/db");
    EXPECT_EQ(mask("postgresql://host:5432/db"), "postgresql://host:5432/db");
    EXPECT_EQ(mask("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
    EXPECT_EQ(mask("postgresql://u:p@ss/w@h/db"), "postgresql://u:***@h/db");
    EXPECT_EQ(mask("postgresql://u@h/db?password=topsecret&sslmode=disable"),
              "postgresql://u@h/db?password=***&sslmode=disable");
    EXPECT_EQ(mask("host=db user=silo password=topsecret dbname=silo"),
              "host=db user=silo password=*** dbname=silo");
    EXPECT_EQ(mask("host=db password = 'top secret' dbname=silo"),
              "host=db password = *** dbname=silo");
    EXPECT_EQ(mask("host=db PASSWORD=x"), "host=db PASSWORD=***");
    EXPECT_EQ(mask("host=db passwordfile=/x"), "host=db passwordfile=/x");
}

}  // namespace
}  // namespace silo
