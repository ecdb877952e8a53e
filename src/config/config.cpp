// Configuration loading (API.md §10): compiled defaults, then the YAML file, then SILO_* env.
//
// Every setting is described once, in key_table(): its dotted path (which is also its YAML
// position, its environment variable name and its JSON position), an accessor into Config, and
// its value rule. Parsing the file, applying the environment, validating and printing all walk
// that one table; no code is written per key.
//
// Order of checks: a value of the wrong shape (a mapping where a number belongs, "abc" for a
// port) stops loading at once, naming where it came from. A well-formed value that breaks a rule
// (port 70000, an empty host) is remembered per key and reported only after the environment has
// been applied, so an environment variable can repair a bad file value; the report then names
// whichever source set the value last.
#include "config/config.hpp"

#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <variant>

extern char** environ;  // POSIX; not declared by any standard header in C++

namespace silo {
namespace {

// ---------------------------------------------------------------------------------------------
// The key table

using StrRef = std::string& (*)(Config&);
using BoolRef = bool& (*)(Config&);
using IntRef = int& (*)(Config&);
using I64Ref = std::int64_t& (*)(Config&);
using FieldRef = std::variant<StrRef, BoolRef, IntRef, I64Ref>;

// field<&Config::server, &ServerConfig::port> is a plain function returning c.server.port.
template <auto Section, auto Member>
auto& field(Config& c) {
    return (c.*Section).*Member;
}

enum class TextRule { any, non_empty, driver, username };
enum class Secret { none, whole, url };  // how config_to_json masks the value

struct KeySpec {
    std::string path;  // "modules.sessions.session_timeout_minutes"
    std::string env;   // "SILO_MODULES_SESSIONS_SESSION_TIMEOUT_MINUTES" (derived from path)
    FieldRef ref;
    std::int64_t min = 0;  // integers: inclusive range
    std::int64_t max = 0;
    TextRule text = TextRule::any;  // strings
    Secret secret = Secret::none;
};

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kTiB = kMiB * kMiB;
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();

KeySpec text_key(std::string path, StrRef ref, TextRule rule = TextRule::any,
                 Secret secret = Secret::none) {
    KeySpec k{std::move(path), {}, ref};
    k.text = rule;
    k.secret = secret;
    return k;
}

KeySpec bool_key(std::string path, BoolRef ref) { return KeySpec{std::move(path), {}, ref}; }

template <class Ref>
KeySpec int_key(std::string path, Ref ref, std::int64_t min, std::int64_t max) {
    KeySpec k{std::move(path), {}, ref};
    k.min = min;
    k.max = max;
    return k;
}

std::string env_name_for(std::string_view path) {
    std::string out = "SILO_";
    for (char c : path) {
        if (c == '.')
            c = '_';
        else if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
        out.push_back(c);
    }
    return out;
}

const std::vector<KeySpec>& key_table() {
    static const std::vector<KeySpec> table = [] {
        using C = Config;
        using Srv = ServerConfig;
        using Db = DatabaseConfig;
        using Ev = EventsConfig;
        using Ses = SessionsModuleConfig;
        std::vector<KeySpec> t = {
            text_key("server.host", &field<&C::server, &Srv::host>, TextRule::non_empty),
            int_key("server.port", &field<&C::server, &Srv::port>, 0, 65535),
            bool_key("server.read_only", &field<&C::server, &Srv::read_only>),
            int_key("server.max_json_bytes", &field<&C::server, &Srv::max_json_bytes>, kKiB,
                    64 * kMiB),
            int_key("server.max_upload_bytes", &field<&C::server, &Srv::max_upload_bytes>, kKiB,
                    kTiB),
            int_key("server.header_timeout_seconds", &field<&C::server, &Srv::header_timeout_seconds>, 1, 3600),
            int_key("server.body_idle_timeout_seconds", &field<&C::server, &Srv::body_idle_timeout_seconds>, 1, 3600),
            int_key("server.keepalive_timeout_seconds", &field<&C::server, &Srv::keepalive_timeout_seconds>, 1, 3600),
            int_key("server.max_connections", &field<&C::server, &Srv::max_connections>, 1, 1000000),
            int_key("server.max_header_fields", &field<&C::server, &Srv::max_header_fields>, 8, 10000),

            text_key("database.driver", &field<&C::database, &Db::driver>, TextRule::driver),
            text_key("database.path", &field<&C::database, &Db::path>, TextRule::non_empty),
            text_key("database.url", &field<&C::database, &Db::url>, TextRule::any, Secret::url),

            text_key("storage.root_dir", &field<&C::storage, &StorageConfig::root_dir>,
                     TextRule::non_empty),
            int_key("storage.orphan_grace_minutes", &field<&C::storage, &StorageConfig::orphan_grace_minutes>, 0,
                    525600),
            text_key("schemas.directory", &field<&C::schemas, &SchemasConfig::directory>,
                     TextRule::non_empty),
            text_key("workflows.directory", &field<&C::workflows, &WorkflowsConfig::directory>,
                     TextRule::non_empty),

            bool_key("auth.enabled", &field<&C::auth, &AuthConfig::enabled>),
            text_key("auth.local.default_admin_username",
                     &field<&C::auth, &AuthConfig::default_admin_username>, TextRule::username),
            text_key("auth.local.default_admin_password",
                     &field<&C::auth, &AuthConfig::default_admin_password>, TextRule::any,
                     Secret::whole),

            int_key("events.heartbeat_seconds", &field<&C::events, &Ev::heartbeat_seconds>, 1,
                    3600),
            int_key("events.retention_hours", &field<&C::events, &Ev::retention_hours>, 1, 87600),
            int_key("events.queue_limit", &field<&C::events, &Ev::queue_limit>, 16, 1000000),
            int_key("events.max_streams_per_user", &field<&C::events, &Ev::max_streams_per_user>, 0,
                    kIntMax),
            int_key("events.stall_timeout_seconds", &field<&C::events, &Ev::stall_timeout_seconds>, 1, 3600),

            bool_key("approvals.allow_self_approval",
                     &field<&C::approvals, &ApprovalsConfig::allow_self_approval>),

            bool_key("modules.sessions.enabled", &field<&C::sessions, &Ses::enabled>),
            int_key("modules.sessions.session_timeout_minutes",
                    &field<&C::sessions, &Ses::session_timeout_minutes>, 1, kIntMax),
            int_key("modules.sessions.disconnect_grace_seconds",
                    &field<&C::sessions, &Ses::disconnect_grace_seconds>, 0, kIntMax),
            int_key("modules.sessions.sweep_interval_seconds",
                    &field<&C::sessions, &Ses::sweep_interval_seconds>, 1, kIntMax),
            bool_key("modules.sessions.force_release_requires_approval",
                     &field<&C::sessions, &Ses::force_release_requires_approval>),
            text_key("modules.sessions.force_release_workflow",
                     &field<&C::sessions, &Ses::force_release_workflow>, TextRule::non_empty),
            int_key("modules.sessions.checkpoint_ttl_hours",
                    &field<&C::sessions, &Ses::checkpoint_ttl_hours>, 1, kIntMax),
            int_key("modules.sessions.checkpoint_max_per_item",
                    &field<&C::sessions, &Ses::checkpoint_max_per_item>, 1, kIntMax),
        };
        for (auto& k : t) k.env = env_name_for(k.path);
        return t;
    }();
    return table;
}

// Short environment names kept for convenience (API.md §10).
struct EnvAlias {
    std::string_view name;
    std::string_view path;
};
constexpr EnvAlias kEnvAliases[] = {
    {"SILO_ADMIN_USERNAME", "auth.local.default_admin_username"},
    {"SILO_ADMIN_PASSWORD", "auth.local.default_admin_password"},
};

std::optional<std::size_t> find_key(std::string_view path) {
    const auto& t = key_table();
    for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i].path == path) return i;
    return std::nullopt;
}

std::optional<std::size_t> find_env(std::string_view name) {
    const auto& t = key_table();
    for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i].env == name) return i;
    return std::nullopt;
}

// A section is any proper prefix of a key path: "server", "auth.local", "modules".
bool is_section(std::string_view path) {
    for (const auto& k : key_table())
        if (k.path.size() > path.size() && k.path.compare(0, path.size(), path) == 0 &&
            k.path[path.size()] == '.')
            return true;
    return false;
}

// ---------------------------------------------------------------------------------------------
// Value parsing and rules

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// A value quoted for an error message: JSON-escaped, shortened when long.
std::string quote_value(std::string_view raw) {
    constexpr std::size_t kMax = 80;
    std::string s(raw.substr(0, kMax));
    std::string out =
        nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (raw.size() > kMax) out.insert(out.size() - 1, "...");
    return out;
}

// Decimal whole number with an optional sign; nothing else (no 1.5, 0x10, 1e3, "12abc").
std::optional<std::int64_t> parse_whole(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty() || s.front() == '+') return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// File booleans follow YAML 1.1 (true/false/yes/no/on/off); environment booleans are
// true/false/1/0. Case-insensitive either way.
std::optional<bool> parse_bool(std::string_view s, bool from_env) {
    const std::string v = lower(s);
    if (v == "true") return true;
    if (v == "false") return false;
    if (from_env) {
        if (v == "1") return true;
        if (v == "0") return false;
    } else {
        if (v == "yes" || v == "on") return true;
        if (v == "no" || v == "off") return false;
    }
    return std::nullopt;
}

// What a well-formed value must look like, for "must be ..., got ..." messages.
std::string expected_shape(const KeySpec& k) {
    return std::visit(Overloaded{
                          [](StrRef) -> std::string { return "must be a string"; },
                          [](BoolRef) -> std::string { return "must be true or false"; },
                          [&](auto ref) -> std::string {
                              using T =
                                  std::remove_reference_t<decltype(ref(std::declval<Config&>()))>;
                              if (k.max < std::numeric_limits<T>::max())
                                  return "must be an integer from " + std::to_string(k.min) +
                                         " to " + std::to_string(k.max);
                              return "must be an integer of at least " + std::to_string(k.min);
                          },
                      },
                      k.ref);
}

std::string shape_error(const KeySpec& k, std::string_view got) {
    return expected_shape(k) + ", got " + std::string(got);
}

bool username_ok(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

// The rule a well-formed string value breaks, if any.
std::optional<std::string> text_rule_error(const KeySpec& k, const std::string& v) {
    switch (k.text) {
        case TextRule::any:
            return std::nullopt;
        case TextRule::non_empty:
            if (v.empty()) return std::string("must not be empty");
            return std::nullopt;
        case TextRule::driver:
            if (v == "sqlite" || v == "postgres") return std::nullopt;
            return "must be one of sqlite, postgres, got " + quote_value(v);
        case TextRule::username:
            if (username_ok(v)) return std::nullopt;
            return "must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got " + quote_value(v);
    }
    return std::nullopt;
}

std::optional<std::string> range_error(const KeySpec& k, std::int64_t v) {
    if (v < k.min)
        return "must be at least " + std::to_string(k.min) + ", got " + std::to_string(v);
    if (v > k.max) return "must be at most " + std::to_string(k.max) + ", got " + std::to_string(v);
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The loader: one pass over the file, one over the environment, then the deferred rule checks.

struct Origin {
    enum Kind { defaults, file, env } kind = defaults;
    std::string name;  // file path or variable name
};

class Loader {
  public:
    Loader() : origins_(key_table().size()), pending_(key_table().size()) {}

    Status load_file(const std::string& path);
    Status apply_env(const std::map<std::string, std::string>& env);
    Status validate() const;
    Config take() && { return std::move(config_); }

  private:
    // Where key i got its value: "silod.yaml: 'server.port'", "SILO_SERVER_PORT:".
    std::string where(std::size_t i) const;
    Error key_error(std::size_t i, const std::string& complaint) const {
        return bad_request(where(i) + " " + complaint);
    }
    Error file_error(const std::string& what) const { return bad_request(file_ + ": " + what); }

    Status walk(const YAML::Node& map, const std::string& prefix);
    Status set_from_yaml(std::size_t i, const YAML::Node& value);
    // Parses text into key i. A malformed value is returned as the complaint; a rule broken by
    // a well-formed value is kept in pending_ until validate().
    std::optional<std::string> set_from_text(std::size_t i, const std::string& text, bool from_env);

    Config config_;
    std::string file_;
    std::vector<Origin> origins_;
    std::vector<std::optional<std::string>> pending_;
};

std::string Loader::where(std::size_t i) const {
    const Origin& o = origins_[i];
    switch (o.kind) {
        case Origin::file:
            return o.name + ": '" + key_table()[i].path + "'";
        case Origin::env:
            return o.name + ":";
        case Origin::defaults:
            break;
    }
    return "'" + key_table()[i].path + "'";
}

std::optional<std::string> Loader::set_from_text(std::size_t i, const std::string& text,
                                                 bool from_env) {
    const KeySpec& k = key_table()[i];
    auto parsed_as = [&](auto ref) -> std::optional<std::string> {
        using T = std::remove_reference_t<decltype(ref(config_))>;
        if constexpr (std::is_same_v<T, std::string>) {
            pending_[i] = text_rule_error(k, text);
            ref(config_) = text;
        } else if constexpr (std::is_same_v<T, bool>) {
            auto b = parse_bool(text, from_env);
            if (!b) return shape_error(k, quote_value(text));
            pending_[i].reset();
            ref(config_) = *b;
        } else {
            auto v = parse_whole(text);
            if (!v) return shape_error(k, quote_value(text));
            pending_[i] = range_error(k, *v);
            // Out of the field's own range implies out of k's range: reported, never stored.
            if (*v >= std::numeric_limits<T>::min() && *v <= std::numeric_limits<T>::max())
                ref(config_) = static_cast<T>(*v);
        }
        return std::nullopt;
    };
    return std::visit(parsed_as, k.ref);
}

Status Loader::set_from_yaml(std::size_t i, const YAML::Node& value) {
    origins_[i] = {Origin::file, file_};
    const KeySpec& k = key_table()[i];
    if (value.IsMap()) return key_error(i, shape_error(k, "a mapping"));
    if (value.IsSequence()) return key_error(i, shape_error(k, "a sequence"));
    if (!value.IsScalar()) {
        std::string hint = std::holds_alternative<StrRef>(k.ref) ? " (write \"\" for empty)" : "";
        return key_error(i, shape_error(k, "no value" + hint));
    }
    if (auto complaint = set_from_text(i, value.Scalar(), false)) return key_error(i, *complaint);
    return {};
}

const char* node_kind(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a sequence";
    if (n.IsScalar()) return "a scalar";
    return "no value";
}

Status Loader::walk(const YAML::Node& map, const std::string& prefix) {
    std::set<std::string> seen;
    for (const auto& entry : map) {
        if (!entry.first.IsScalar())
            return file_error(prefix.empty() ? "top-level keys must be plain names"
                                             : "keys in '" + prefix + "' must be plain names");
        const std::string key = entry.first.Scalar();
        const std::string path = prefix.empty() ? key : prefix + "." + key;
        // A key holding a dot would otherwise reach a nested setting ("server.port" at the top).
        const bool plain = !key.empty() && key.find('.') == std::string::npos;
        if (!seen.insert(key).second) return file_error("duplicate key '" + path + "'");
        if (auto i = plain ? find_key(path) : std::nullopt) {
            SILO_CHECK(set_from_yaml(*i, entry.second));
        } else if (plain && is_section(path)) {
            if (entry.second.IsNull()) continue;  // "server:" with nothing under it
            if (!entry.second.IsMap())
                return file_error("'" + path + "' must be a mapping, got " +
                                  node_kind(entry.second));
            SILO_CHECK(walk(entry.second, path));
        } else {
            return file_error("unknown key '" + path + "'");
        }
    }
    return {};
}

// Reads a whole file; the error is the reason ("No such file or directory").
Result<std::string> read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return bad_request(std::strerror(errno));
    struct FileCloser {
        std::FILE* f;
        ~FileCloser() { std::fclose(f); }
    } closer{f};
    struct stat st {};
    if (::fstat(::fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) return bad_request("is a directory");
    std::string text;
    char buf[8192];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    if (std::ferror(f)) return bad_request(std::strerror(errno));
    return text;
}

namespace {

// Counts the documents of a YAML stream, stopping at `most`. YAML::LoadAll of yaml-cpp 0.7 (the
// version in Debian 12) can loop for ever, allocating as it goes, on some malformed input
// (found by tests/fuzz/fuzz_yaml; fixed upstream in jbeder/yaml-cpp#1319): the parser keeps
// reporting one more empty document. So the count is bounded, and the first document is read
// with YAML::Load, which stops after one.
class DocumentCounter final : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

int count_documents(const std::string& text, int most) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int n = 0;
    while (n < most && parser.HandleNextDocument(counter)) ++n;
    return n;
}

}  // namespace

Status Loader::load_file(const std::string& path) {
    file_ = path;
    auto text = read_file(path);
    if (!text) return file_error("cannot read file: " + text.error().message);

    std::vector<YAML::Node> docs;
    try {
        if (count_documents(*text, 2) > 1) return file_error("must hold one YAML document, found more");
        docs.push_back(YAML::Load(*text));
    } catch (const YAML::Exception& e) {
        std::string msg = e.what();
        constexpr std::string_view kPrefix = "yaml-cpp: ";
        if (msg.compare(0, kPrefix.size(), kPrefix) == 0) msg.erase(0, kPrefix.size());
        return file_error("not valid YAML: " + msg);
    }
    if (docs.empty() || docs[0].IsNull()) return {};  // empty or comments only: defaults
    if (!docs[0].IsMap())
        return file_error(std::string("top level must be a mapping of sections, got ") +
                          node_kind(docs[0]));
    try {
        return walk(docs[0], "");
    } catch (const YAML::Exception& e) {  // not expected after a successful load
        return file_error(std::string("not valid YAML: ") + e.what());
    }
}

const EnvAlias* find_alias(std::string_view name) {
    for (const auto& alias : kEnvAliases)
        if (alias.name == name) return &alias;
    return nullptr;
}

Status Loader::apply_env(const std::map<std::string, std::string>& env) {
    for (const auto& [name, value] : env) {
        if (name.rfind("SILO_", 0) != 0) continue;
        std::optional<std::size_t> i = find_env(name);
        if (!i) {
            const EnvAlias* alias = find_alias(name);
            if (!alias) {
                config_.warnings.push_back("ignoring unknown environment variable " + name);
                continue;
            }
            i = find_key(alias->path);
            const std::string& full = key_table()[*i].env;
            if (env.count(full)) {  // the full name wins over its alias
                config_.warnings.push_back("ignoring " + name + " because " + full +
                                           " is also set");
                continue;
            }
        }
        origins_[*i] = {Origin::env, name};
        if (auto complaint = set_from_text(*i, value, true)) return key_error(*i, *complaint);
    }
    return {};
}

Status Loader::validate() const {
    for (std::size_t i = 0; i < pending_.size(); ++i)
        if (pending_[i]) return key_error(i, *pending_[i]);

    if (config_.database.driver == "postgres" && config_.database.url.empty()) {
        // Blame the source that left the url empty if it was set explicitly, else the driver.
        std::size_t url = *find_key("database.url"), driver = *find_key("database.driver");
        const Origin& o = origins_[url].kind != Origin::defaults ? origins_[url] : origins_[driver];
        std::string prefix = o.kind == Origin::defaults ? "" : o.name + ": ";
        return bad_request(prefix + "'database.url' is required when database.driver is postgres");
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Masking

// Replaces the password inside a PostgreSQL connection string with "***": the user-info part
// of a URI ("postgresql://user:secret@host/db") and any password=... keyword, either in a URI
// query ("?password=secret&...") or in the keyword form ("host=h password='se cret'").
std::string mask_database_url(std::string s) {
    const auto scheme = s.find("://");
    if (scheme != std::string::npos) {
        const std::size_t start = scheme + 3;
        // Errs on the side of masking: the last '@' before the query, so an unescaped '@' or
        // '/' in the password is still covered.
        const std::size_t query = s.find('?', start);
        const std::size_t end = query == std::string::npos ? s.size() : query;
        const std::size_t at = s.rfind('@', end - 1);
        if (at != std::string::npos && at >= start) {
            const std::size_t colon = s.find(':', start);
            if (colon != std::string::npos && colon < at)
                s.replace(colon + 1, at - colon - 1, "***");
        }
    }
    constexpr std::string_view kKey = "password";
    std::size_t pos = 0;
    while ((pos = lower(s).find(kKey, pos)) != std::string::npos) {
        const bool boundary = pos == 0 || s[pos - 1] == ' ' || s[pos - 1] == '\t' ||
                              s[pos - 1] == '?' || s[pos - 1] == '&';
        std::size_t p = pos + kKey.size();
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
        if (!boundary || p >= s.size() || s[p] != '=') {
            pos += kKey.size();
            continue;
        }
        ++p;
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
        std::size_t value_end = p;
        if (p < s.size() && s[p] == '\'') {  // quoted keyword value, \' and \\ escapes
            value_end = p + 1;
            while (value_end < s.size() && s[value_end] != '\'')
                value_end += (s[value_end] == '\\' && value_end + 1 < s.size()) ? 2 : 1;
            if (value_end < s.size()) ++value_end;
        } else {
            while (value_end < s.size() && s[value_end] != ' ' && s[value_end] != '\t' &&
                   s[value_end] != '&')
                ++value_end;
        }
        if (value_end > p) {
            s.replace(p, value_end - p, "***");
            p += 3;
        }
        pos = p;
    }
    return s;
}

}  // namespace

Result<Config> load_config(const std::string& path, const std::map<std::string, std::string>& env) {
    Loader loader;
    if (!path.empty()) SILO_CHECK(loader.load_file(path));
    SILO_CHECK(loader.apply_env(env));
    SILO_CHECK(loader.validate());
    return std::move(loader).take();
}

std::map<std::string, std::string> silo_environment() {
    std::map<std::string, std::string> out;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        if (entry.rfind("SILO_", 0) != 0) continue;
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return out;
}

nlohmann::json config_to_json(const Config& c, bool mask_secrets) {
    // The accessors take Config&; they are only read through here.
    Config& cfg = const_cast<Config&>(c);
    nlohmann::json out = nlohmann::json::object();
    for (const auto& k : key_table()) {
        std::string pointer = "/" + k.path;
        for (auto& ch : pointer)
            if (ch == '.') ch = '/';
        nlohmann::json value =
            std::visit([&](auto ref) { return nlohmann::json(ref(cfg)); }, k.ref);
        if (mask_secrets && value.is_string() && !value.get_ref<const std::string&>().empty()) {
            if (k.secret == Secret::whole)
                value = "***";
            else if (k.secret == Secret::url)
                value = mask_database_url(value.get<std::string>());
        }
        out[nlohmann::json::json_pointer(pointer)] = std::move(value);
    }
    return out;
}

}  // namespace silo
