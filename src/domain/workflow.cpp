#include "domain/workflow.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>

namespace silo {

namespace {

bool valid_workflow_name(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

bool blank(const std::string& s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// A plain (unquoted) YAML scalar: its type comes from its text, as YAML 1.2 reads it.
bool plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

// Parses one workflow document; every error names the file and the field.
class WorkflowParser {
  public:
    explicit WorkflowParser(const std::string& file) : file_(file) {}

    Result<Workflow> parse(const std::string& yaml_text) {
        YAML::Node root;
        try {
            root = YAML::Load(yaml_text);
        } catch (const YAML::Exception& e) {
            return fail(std::string("not valid YAML: ") + e.what());
        }
        try {
            return parse_root(root);
        } catch (const YAML::Exception& e) {
            return fail(std::string("cannot read the document: ") + e.what());
        }
    }

  private:
    Error fail(const std::string& what) const { return bad_request(file_ + ": " + what); }
    Error fail_field(const std::string& field, const std::string& what) const {
        return fail("'" + field + "' " + what);
    }

    // Rejects keys other than `allowed` (and repeated keys) in the mapping at `path`.
    Status check_keys(const YAML::Node& map, const std::string& path,
                      std::initializer_list<const char*> allowed) const {
        std::set<std::string> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
            if (!it->first.IsScalar()) return fail("'" + path + "' has a key that is not a string");
            auto key = it->first.as<std::string>();
            auto field = path.empty() ? key : path + "." + key;
            if (!seen.insert(key).second) return fail_field(field, "appears twice");
            bool known = std::any_of(allowed.begin(), allowed.end(),
                                     [&](const char* k) { return key == k; });
            if (!known) {
                std::string expected;
                for (const char* k : allowed)
                    expected += std::string(expected.empty() ? "" : ", ") + k;
                return fail_field(field, "is not a known key (expected " + expected + ")");
            }
        }
        return {};
    }

    // A required, non-blank string scalar.
    Result<std::string> required_string(const YAML::Node& n, const std::string& field) const {
        if (!n || n.IsNull()) return fail_field(field, "is required");
        if (!n.IsScalar()) return fail_field(field, "must be a string");
        auto s = n.as<std::string>();
        if (blank(s)) return fail_field(field, "must not be empty");
        return s;
    }

    Result<Workflow> parse_root(const YAML::Node& root) {
        if (!root.IsMap() || !root["workflow"])
            return fail("expected a mapping with a 'workflow' key");
        SILO_CHECK(check_keys(root, "", {"workflow"}));
        const YAML::Node w = root["workflow"];
        if (!w.IsMap()) return fail_field("workflow", "must be a mapping");
        SILO_CHECK(check_keys(w, "workflow",
                              {"name", "version", "description", "states", "gates", "rules"}));

        Workflow out;
        out.file = file_;

        SILO_TRY(out.name, required_string(w["name"], "workflow.name"));
        if (!valid_workflow_name(out.name))
            return fail_field("workflow.name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");

        SILO_TRY(out.version, parse_version(w["version"]));

        if (const YAML::Node d = w["description"]; d && !d.IsNull()) {
            if (!d.IsScalar()) return fail_field("workflow.description", "must be a string");
            out.description = d.as<std::string>();
        }

        SILO_TRY(out.states, parse_states(w["states"]));
        SILO_TRY(out.gates, parse_gates(w["gates"]));
        SILO_CHECK(parse_rules(w["rules"], out));
        return out;
    }

    Result<int> parse_version(const YAML::Node& n) const {
        const char* field = "workflow.version";
        if (!n || n.IsNull()) return fail_field(field, "is required");
        if (!plain_scalar(n)) return fail_field(field, "must be a positive integer");
        auto s = n.Scalar();
        if (s.empty() || s.size() > 10 ||
            !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return fail_field(field, "must be a positive integer");
        long long v = std::stoll(s);
        if (v < 1 || v > INT_MAX) return fail_field(field, "must be a positive integer");
        return static_cast<int>(v);
    }

    Result<std::vector<std::string>> parse_states(const YAML::Node& n) const {
        const std::string field = "workflow.states";
        if (!n || n.IsNull()) return fail_field(field, "is required");
        if (!n.IsSequence() || n.size() == 0)
            return fail_field(field, "must be a non-empty list of state names");
        std::vector<std::string> states;
        for (std::size_t i = 0; i < n.size(); ++i) {
            auto item = "workflow.states[" + std::to_string(i) + "]";
            SILO_TRY(auto s, required_string(n[i], item));
            if (s == kStateCancelled)
                return fail_field(item, "may not be 'cancelled': the server reserves that state");
            if (std::find(states.begin(), states.end(), s) != states.end())
                return fail_field(item, "repeats state '" + s + "'");
            states.push_back(std::move(s));
        }
        if (std::find(states.begin(), states.end(), kStatePending) == states.end())
            return fail_field(field, "must contain 'pending'");
        return states;
    }

    Result<std::vector<WorkflowGate>> parse_gates(const YAML::Node& n) const {
        const std::string field = "workflow.gates";
        if (!n || n.IsNull()) return fail_field(field, "is required");
        if (!n.IsSequence() || n.size() == 0)
            return fail_field(field, "must be a non-empty list of gates");
        std::vector<WorkflowGate> gates;
        for (std::size_t i = 0; i < n.size(); ++i) {
            auto item = field + "[" + std::to_string(i) + "]";
            const YAML::Node g = n[i];
            if (!g.IsMap())
                return fail_field(item, "must be a mapping with role, label and required");
            SILO_CHECK(check_keys(g, item, {"role", "label", "required"}));
            WorkflowGate gate;
            SILO_TRY(gate.role, required_string(g["role"], item + ".role"));
            SILO_TRY(gate.label, required_string(g["label"], item + ".label"));
            if (const YAML::Node r = g["required"]; r) {
                static const char* kTrue[] = {"true", "True", "TRUE"};
                static const char* kFalse[] = {"false", "False", "FALSE"};
                auto is = [&](const char* const* words) {
                    return plain_scalar(r) && std::any_of(words, words + 3, [&](const char* w) {
                               return r.Scalar() == w;
                           });
                };
                if (is(kTrue))
                    gate.required = true;
                else if (is(kFalse))
                    gate.required = false;
                else
                    return fail_field(item + ".required", "must be true or false");
            }
            for (std::size_t j = 0; j < gates.size(); ++j)
                if (gates[j].label == gate.label)
                    return fail_field(item + ".label", "repeats label '" + gate.label + "' of " +
                                                           field + "[" + std::to_string(j) + "]");
            gates.push_back(std::move(gate));
        }
        if (std::none_of(gates.begin(), gates.end(),
                         [](const WorkflowGate& g) { return g.required; }))
            return fail_field(field, "needs at least one gate with required: true");
        return gates;
    }

    Status parse_rules(const YAML::Node& n, Workflow& wf) const {
        const std::string field = "workflow.rules";
        if (!n || n.IsNull()) return fail_field(field, "is required");
        if (!n.IsMap())
            return fail_field(field, "must be a mapping with any_reject and all_required_approve");
        SILO_CHECK(check_keys(n, field, {"any_reject", "all_required_approve"}));
        auto target = [&](const char* key) -> Result<std::string> {
            auto f = field + "." + key;
            SILO_TRY(auto s, required_string(n[key], f));
            if (!wf.has_state(s))
                return fail_field(f, "names state '" + s + "', which is not in workflow.states");
            if (s == kStatePending || s == kStateDraft)
                return fail_field(f, "may not be '" + s + "': it must name a final state");
            return s;
        };
        SILO_TRY(wf.any_reject, target("any_reject"));
        SILO_TRY(wf.all_required_approve, target("all_required_approve"));
        if (wf.any_reject == wf.all_required_approve)
            return fail_field(
                field + ".all_required_approve",
                "must differ from workflow.rules.any_reject (both are '" + wf.any_reject + "')");
        return {};
    }

    std::string file_;
};

bool approved_for(const std::vector<Signature>& sigs, const std::string& role) {
    return std::any_of(sigs.begin(), sigs.end(), [&](const Signature& s) {
        return s.role == role && s.status == kSignApproved;
    });
}

bool signed_for(const std::vector<Signature>& sigs, const std::string& role) {
    return std::any_of(sigs.begin(), sigs.end(),
                       [&](const Signature& s) { return s.role == role; });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Definitions

bool Workflow::has_state(const std::string& state) const {
    return std::find(states.begin(), states.end(), state) != states.end();
}

bool Workflow::has_gate_role(const std::string& role) const {
    return std::any_of(gates.begin(), gates.end(),
                       [&](const WorkflowGate& g) { return g.role == role; });
}

nlohmann::json Workflow::to_json() const {
    auto gs = nlohmann::json::array();
    for (const auto& g : gates)
        gs.push_back({{"role", g.role}, {"label", g.label}, {"required", g.required}});
    return {
        {"name", name},
        {"version", version},
        {"description", description},
        {"states", states},
        {"gates", std::move(gs)},
        {"rules", {{"any_reject", any_reject}, {"all_required_approve", all_required_approve}}},
    };
}

Result<Workflow> parse_workflow(const std::string& yaml_text, const std::string& file) {
    return WorkflowParser(file).parse(yaml_text);
}

Result<std::map<std::string, Workflow>> load_workflows(const std::string& directory) {
    namespace fs = std::filesystem;
    std::map<std::string, Workflow> out;
    std::error_code ec;
    if (!fs::exists(directory, ec)) return out;
    if (!fs::is_directory(directory, ec))
        return bad_request(directory + ": the workflows directory is not a directory");
    std::vector<fs::path> files;
    fs::directory_iterator it(directory, ec), end;
    if (ec)
        return bad_request(directory + ": cannot list the workflows directory: " + ec.message());
    for (; it != end; it.increment(ec)) {
        auto ext = it->path().extension().string();
        if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file(ec))
            files.push_back(it->path());
    }
    if (ec)
        return bad_request(directory + ": cannot list the workflows directory: " + ec.message());
    std::sort(files.begin(), files.end());

    std::map<std::string, std::string> source;  // workflow name -> file
    for (const auto& f : files) {
        const auto file = f.string();
        std::ifstream in(f, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) return bad_request(file + ": cannot read the file");
        SILO_TRY(auto wf, parse_workflow(ss.str(), file));
        if (auto prev = source.find(wf.name); prev != source.end())
            return bad_request(file + ": 'workflow.name' '" + wf.name +
                               "' is already declared by " + prev->second);
        source.emplace(wf.name, file);
        out.emplace(wf.name, std::move(wf));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// State machine

Result<std::string> initial_state(const Workflow& wf, bool draft) {
    if (!draft) return std::string(kStatePending);
    if (!wf.has_state(kStateDraft))
        return bad_request("workflow '" + wf.name + "' has no draft state");
    return std::string(kStateDraft);
}

bool is_terminal(const Workflow&, const std::string& state) {
    return state != kStateDraft && state != kStatePending;
}

std::string next_state(const Workflow& wf, const std::vector<Signature>& signatures) {
    const bool any_rejected =
        std::any_of(signatures.begin(), signatures.end(),
                    [&](const Signature& s) { return s.status == kSignRejected; });
    if (any_rejected) return wf.any_reject;
    const bool all_approved = std::all_of(
        wf.gates.begin(), wf.gates.end(),
        [&](const WorkflowGate& g) { return !g.required || approved_for(signatures, g.role); });
    if (all_approved) return wf.all_required_approve;
    return kStatePending;
}

Result<std::string> gate_for_signer(const Workflow& wf, const ApprovalState& approval,
                                    const std::vector<Designation>& designations,
                                    const SignerInfo& signer, const std::string& creator,
                                    bool allow_self_approval) {
    if (approval.state == kStateDraft || is_terminal(wf, approval.state))
        return conflict("approval is " + approval.state + "; it accepts no more signatures");
    const auto& sigs = approval.signatures;
    if (std::any_of(sigs.begin(), sigs.end(),
                    [&](const Signature& s) { return s.username == signer.username; }))
        return conflict(signer.username + " has already signed");
    if (!signer.active) return forbidden(signer.username + " is not an active user");
    if (!allow_self_approval && signer.username == creator)
        return forbidden(
            signer.username +
            " created this approval and may not sign it (approvals.allow_self_approval is false)");

    // Eligibility per gate, and a description of each gate for the refusal message.
    struct Eligible {
        const WorkflowGate* gate;
        bool designated;
    };
    std::vector<Eligible> eligible;
    std::vector<std::string> needs;
    for (const auto& g : wf.gates) {
        std::vector<std::string> designated;
        for (const auto& d : designations)
            if (d.role == g.role) designated.push_back(d.username);
        if (!designated.empty()) {
            // A designation never lowers the gate's own bar: an auth-role gate still needs
            // that role (of the signer's current account).
            bool named = std::find(designated.begin(), designated.end(), signer.username) != designated.end();
            if (named && may_sign_gate(g.role, signer.role)) eligible.push_back({&g, true});
            needs.push_back(g.label + ": one of " + join(designated, ", "));
        } else if (auto need = parse_role(g.role)) {
            if (role_at_least(signer.role, *need)) eligible.push_back({&g, false});
            needs.push_back(g.label + ": role " + g.role + " or above");
        } else {
            needs.push_back(g.label + ": a designated " + g.role + " signer (none designated)");
        }
    }
    if (eligible.empty())
        return forbidden(signer.username + " is not an eligible signer for this " + wf.name +
                         " approval (" + join(needs, "; ") + ")");

    // Required gates still without an approval first, then optional gates nobody signed;
    // within each, a gate the signer was named for before one their role opens (a signature
    // spent on an optional gate could leave a required one unsignable).
    for (bool required : {true, false})
        for (bool designated : {true, false})
            for (const auto& e : eligible) {
                if (e.designated != designated || e.gate->required != required) continue;
                if (required ? !approved_for(sigs, e.gate->role) : !signed_for(sigs, e.gate->role))
                    return e.gate->role;
            }
    // A signature that settles no open gate would only be noise in the record.
    return conflict("every gate " + signer.username + " may sign on this " + wf.name +
                    " approval is already signed");
}

bool gates_get_distinct_signers(const std::vector<std::vector<std::string>>& candidates) {
    std::map<std::string, std::size_t> taken_by;  // signer -> gate
    // Kuhn's augmenting paths: try to give gate g a signer, moving earlier gates along.
    std::function<bool(std::size_t, std::set<std::string>&)> place = [&](std::size_t g, std::set<std::string>& seen) {
        for (const auto& who : candidates[g]) {
            if (!seen.insert(who).second) continue;
            auto it = taken_by.find(who);
            if (it == taken_by.end() || place(it->second, seen)) {
                taken_by[who] = g;
                return true;
            }
        }
        return false;
    };
    for (std::size_t g = 0; g < candidates.size(); ++g) {
        std::set<std::string> seen;
        if (!place(g, seen)) return false;
    }
    return true;
}

bool may_sign_gate(const std::string& gate_role, Role role) {
    auto need = parse_role(gate_role);
    return !need || role_at_least(role, *need);
}

Status validate_designations(const Workflow& wf, const std::vector<Designation>& designations) {
    for (std::size_t i = 0; i < designations.size(); ++i) {
        const auto& d = designations[i];
        const auto at = "signers[" + std::to_string(i) + "]";
        if (d.username.empty()) return bad_request(at + ".username must not be empty");
        if (!wf.has_gate_role(d.role)) {
            std::vector<std::string> roles;
            for (const auto& g : wf.gates)
                if (std::find(roles.begin(), roles.end(), g.role) == roles.end())
                    roles.push_back(g.role);
            return bad_request(at + ".role '" + d.role + "' is not a gate role of workflow '" +
                               wf.name + "' (gate roles: " + join(roles, ", ") + ")");
        }
    }
    return {};
}

}  // namespace silo
