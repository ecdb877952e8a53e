#include "domain/workflow.hpp"
#include "support/test_paths.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace silo;
namespace fs = std::filesystem;

namespace {

const std::string kDir = silo::test::source_dir() + "/workflows";

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A valid document to mutate in the error tests.
const std::string kValid = R"(workflow:
  name: ecr
  version: 2
  description: "Test workflow"
  states: [draft, pending, approved, rejected]
  gates:
    - role: editor
      label: "Engineering"
      required: true
    - role: quality
      label: "Quality"
    - role: admin
      label: "Manager"
      required: false
  rules:
    any_reject: rejected
    all_required_approve: approved
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << "test bug: '" << from << "' not in document";
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

// A workflow built from gates given as {role, required}; labels are "G<n>".
Workflow make_workflow(std::vector<std::pair<std::string, bool>> gates) {
    Workflow wf;
    wf.name = "t";
    wf.states = {"draft", "pending", "approved", "rejected"};
    int i = 0;
    for (auto& [role, required] : gates)
        wf.gates.push_back({role, std::string("G").append(std::to_string(i++)), required});
    wf.any_reject = "rejected";
    wf.all_required_approve = "approved";
    return wf;
}

Signature ok(const std::string& user, const std::string& role) { return {user, role, "approved"}; }
Signature no(const std::string& user, const std::string& role) { return {user, role, "rejected"}; }

// A scratch directory removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        static std::atomic<int> n{0};
        path = fs::temp_directory_path() /
               ("silo-workflow-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
    }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shipped files

TEST(Workflow, ShippedSessionOverrideMatchesTheSeed) {
    const std::string expected = R"(workflow:
  name: session-override
  version: 1
  description: "Approval required before force-releasing an edit session"
  states: [draft, pending, approved, rejected]
  gates:
    - role: admin
      label: "Admin Authorization"
      required: true
  rules:
    any_reject: rejected
    all_required_approve: approved
)";
    EXPECT_EQ(read_text(kDir + "/session-override.yaml"), expected);

    auto wf = parse_workflow(expected, "session-override.yaml");
    ASSERT_TRUE(wf.ok()) << wf.error().message;
    EXPECT_EQ(wf->name, "session-override");
    EXPECT_EQ(wf->version, 1);
    EXPECT_EQ(wf->file, "session-override.yaml");
    ASSERT_EQ(wf->gates.size(), 1u);
    EXPECT_EQ(wf->gates[0].role, "admin");
    EXPECT_TRUE(wf->gates[0].required);

    auto j = wf->to_json();
    auto want = nlohmann::json::parse(R"({
        "name": "session-override", "version": 1,
        "description": "Approval required before force-releasing an edit session",
        "states": ["draft", "pending", "approved", "rejected"],
        "gates": [{"role": "admin", "label": "Admin Authorization", "required": true}],
        "rules": {"any_reject": "rejected", "all_required_approve": "approved"}})");
    EXPECT_EQ(j, want);
}

TEST(Workflow, ShippedFilesAllLoad) {
    auto all = load_workflows(kDir);
    ASSERT_TRUE(all.ok()) << all.error().message;
    ASSERT_EQ(all->size(), 3u);
    ASSERT_TRUE(all->count("session-override"));
    ASSERT_TRUE(all->count("engineering-change"));
    ASSERT_TRUE(all->count("quick-review"));

    const auto& ec = all->at("engineering-change");
    int required = 0, optional = 0;
    for (const auto& g : ec.gates) (g.required ? required : optional)++;
    EXPECT_GE(required, 2);
    EXPECT_GE(optional, 1);
    EXPECT_TRUE(ec.has_gate_role("quality"));
    EXPECT_FALSE(parse_role("quality"));
    EXPECT_NE(ec.file.find("engineering-change.yaml"), std::string::npos);

    const auto& qr = all->at("quick-review");
    ASSERT_EQ(qr.gates.size(), 1u);
    EXPECT_EQ(qr.gates[0].role, "editor");
    EXPECT_TRUE(qr.gates[0].required);

    for (const auto& [name, wf] : *all) {
        auto again = parse_workflow(read_text(wf.file), wf.file);
        ASSERT_TRUE(again.ok()) << again.error().message;
        EXPECT_EQ(again->to_json(), wf.to_json());
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation

TEST(Workflow, ParsesDefaultsAndOptionalParts) {
    auto wf = parse_workflow(kValid, "ecr.yaml");
    ASSERT_TRUE(wf.ok()) << wf.error().message;
    EXPECT_EQ(wf->version, 2);
    ASSERT_EQ(wf->gates.size(), 3u);
    EXPECT_TRUE(wf->gates[1].required);  // default
    EXPECT_FALSE(wf->gates[2].required);

    // draft and description are optional.
    auto minimal = parse_workflow(R"(workflow:
  name: min
  version: 1
  states: [pending, done, refused]
  gates: [{role: editor, label: Review}]
  rules: {any_reject: refused, all_required_approve: done}
)",
                                  "min.yml");
    ASSERT_TRUE(minimal.ok()) << minimal.error().message;
    EXPECT_EQ(minimal->description, "");
    EXPECT_FALSE(minimal->has_state("draft"));
    EXPECT_EQ(minimal->to_json()["description"], "");
}

TEST(Workflow, TheSeedErrorMessage) {
    auto r = parse_workflow(replace(kValid, "any_reject: rejected", "any_reject: rejectd"),
                            "session-override.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    EXPECT_EQ(
        r.error().message,
        "session-override.yaml: 'workflow.rules.any_reject' names state 'rejectd', which is not "
        "in workflow.states");
}

TEST(Workflow, ValidationErrorsNameTheFileAndField) {
    struct Case {
        std::string yaml;
        std::string expect;  // a substring of the message, besides the file name
    } cases[] = {
        // not YAML, wrong top level
        {"workflow: [1, 2", "not valid YAML"},
        {"", "'workflow' key"},
        {"just some text", "'workflow' key"},
        {"- workflow", "'workflow' key"},
        {"other: 1\n", "'workflow' key"},
        {kValid + "extra: 1\n", "'extra' is not a known key"},
        {"workflow: [a]\n", "'workflow' must be a mapping"},
        // unknown keys at each level
        {replace(kValid, "  version: 2", "  version: 2\n  colour: red"),
         "'workflow.colour' is not a known key"},
        {replace(kValid, "      label: \"Quality\"",
                 "      label: \"Quality\"\n      when: always"),
         "'workflow.gates[1].when' is not a known key"},
        {replace(kValid, "    any_reject: rejected",
                 "    any_reject: rejected\n    any_approve: approved"),
         "'workflow.rules.any_approve' is not a known key"},
        {replace(kValid, "  version: 2", "  version: 2\n  version: 3"),
         "'workflow.version' appears twice"},
        // name
        {replace(kValid, "  name: ecr\n", ""), "'workflow.name' is required"},
        {replace(kValid, "name: ecr", "name: \"has space\""),
         "'workflow.name' must be 1-64 characters"},
        {replace(kValid, "name: ecr", "name: " + std::string(65, 'n')),
         "'workflow.name' must be 1-64"},
        {replace(kValid, "name: ecr", "name: [a]"), "'workflow.name' must be a string"},
        // version
        {replace(kValid, "  version: 2\n", ""), "'workflow.version' is required"},
        {replace(kValid, "version: 2", "version: 0"),
         "'workflow.version' must be a positive integer"},
        {replace(kValid, "version: 2", "version: -1"),
         "'workflow.version' must be a positive integer"},
        {replace(kValid, "version: 2", "version: 1.5"),
         "'workflow.version' must be a positive integer"},
        {replace(kValid, "version: 2", "version: \"2\""),
         "'workflow.version' must be a positive integer"},
        {replace(kValid, "version: 2", "version: two"),
         "'workflow.version' must be a positive integer"},
        {replace(kValid, "version: 2", "version: 99999999999"),
         "'workflow.version' must be a positive integer"},
        // description
        {replace(kValid, "description: \"Test workflow\"", "description: {a: b}"),
         "'workflow.description' must be a string"},
        // states
        {replace(kValid, "  states: [draft, pending, approved, rejected]\n", ""),
         "'workflow.states' is required"},
        {replace(kValid, "[draft, pending, approved, rejected]", "[]"),
         "'workflow.states' must be a non-empty list"},
        {replace(kValid, "[draft, pending, approved, rejected]", "pending"),
         "'workflow.states' must be a non-empty list"},
        {replace(kValid, "[draft, pending, approved, rejected]", "[draft, approved, rejected]"),
         "'workflow.states' must contain 'pending'"},
        {replace(kValid, "[draft, pending, approved, rejected]",
                 "[pending, approved, rejected, approved]"),
         "'workflow.states[3]' repeats state 'approved'"},
        {replace(kValid, "[draft, pending, approved, rejected]",
                 "[pending, \"\", approved, rejected]"),
         "'workflow.states[1]' must not be empty"},
        {replace(kValid, "[draft, pending, approved, rejected]",
                 "[pending, [x], approved, rejected]"),
         "'workflow.states[1]' must be a string"},
        {replace(kValid, "[draft, pending, approved, rejected]",
                 "[pending, approved, rejected, cancelled]"),
         "'workflow.states[3]' may not be 'cancelled'"},
        // gates
        {replace(kValid, "  gates:\n", "  gates: []\n  old_gates:\n"),
         "'workflow.old_gates' is not a known key"},
        {R"(workflow:
  name: x
  version: 1
  states: [pending, approved, rejected]
  gates: []
  rules: {any_reject: rejected, all_required_approve: approved}
)",
         "'workflow.gates' must be a non-empty list"},
        {R"(workflow:
  name: x
  version: 1
  states: [pending, approved, rejected]
  rules: {any_reject: rejected, all_required_approve: approved}
)",
         "'workflow.gates' is required"},
        {R"(workflow:
  name: x
  version: 1
  states: [pending, approved, rejected]
  gates: [editor]
  rules: {any_reject: rejected, all_required_approve: approved}
)",
         "'workflow.gates[0]' must be a mapping"},
        {replace(kValid, "    - role: editor\n", "    - role: \"\"\n"),
         "'workflow.gates[0].role' must not be empty"},
        {replace(kValid, "    - role: quality\n", "    - role:\n"),
         "'workflow.gates[1].role' is required"},
        {replace(kValid, "      label: \"Manager\"\n", ""),
         "'workflow.gates[2].label' is required"},
        {replace(kValid, "label: \"Manager\"", "label: \"Engineering\""),
         "'workflow.gates[2].label' repeats label 'Engineering' of workflow.gates[0]"},
        {replace(kValid, "required: false", "required: maybe"),
         "'workflow.gates[2].required' must be true or false"},
        {replace(kValid, "required: false", "required: \"false\""),
         "'workflow.gates[2].required' must be true or false"},
        {R"(workflow:
  name: x
  version: 1
  states: [pending, approved, rejected]
  gates:
    - {role: editor, label: A, required: false}
    - {role: admin, label: B, required: false}
  rules: {any_reject: rejected, all_required_approve: approved}
)",
         "'workflow.gates' needs at least one gate with required: true"},
        // rules
        {replace(kValid, "  rules:\n    any_reject: rejected\n    all_required_approve: approved\n",
                 ""),
         "'workflow.rules' is required"},
        {replace(kValid, "  rules:\n    any_reject: rejected\n    all_required_approve: approved\n",
                 "  rules: [x]\n"),
         "'workflow.rules' must be a mapping"},
        {replace(kValid, "    any_reject: rejected\n", ""),
         "'workflow.rules.any_reject' is required"},
        {replace(kValid, "    all_required_approve: approved\n", ""),
         "'workflow.rules.all_required_approve' is required"},
        {replace(kValid, "all_required_approve: approved", "all_required_approve: done"),
         "'workflow.rules.all_required_approve' names state 'done', which is not in "
         "workflow.states"},
        {replace(kValid, "any_reject: rejected", "any_reject: cancelled"),
         "'workflow.rules.any_reject' names state 'cancelled', which is not in workflow.states"},
        {replace(kValid, "any_reject: rejected", "any_reject: pending"),
         "'workflow.rules.any_reject' may not be 'pending'"},
        {replace(kValid, "all_required_approve: approved", "all_required_approve: draft"),
         "'workflow.rules.all_required_approve' may not be 'draft'"},
        {replace(kValid, "all_required_approve: approved", "all_required_approve: rejected"),
         "'workflow.rules.all_required_approve' must differ from workflow.rules.any_reject"},
    };
    for (const auto& c : cases) {
        auto r = parse_workflow(c.yaml, "bad.yaml");
        ASSERT_FALSE(r.ok()) << c.yaml;
        EXPECT_EQ(r.error().code, Errc::bad_request);
        EXPECT_EQ(r.error().message.rfind("bad.yaml: ", 0), 0u) << r.error().message;
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
            << "message: " << r.error().message << "\nexpected: " << c.expect << "\nyaml:\n"
            << c.yaml;
    }
}

// ---------------------------------------------------------------------------------------------
// Loading a directory

TEST(Workflow, LoadMissingDirectoryIsEmpty) {
    auto r = load_workflows("/nonexistent/silo-workflows");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->empty());
}

TEST(Workflow, LoadReadsYamlAndYmlAndIgnoresOtherFiles) {
    TempDir d;
    d.write("a.yaml", kValid);
    d.write("b.yml", replace(kValid, "name: ecr", "name: other"));
    d.write("README.md", "# not a workflow: {[");
    d.write("c.yaml.bak", "not: [valid");
    fs::create_directories(d.path / "sub.yaml");  // a directory, not a file
    auto r = load_workflows(d.path.string());
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ(r->at("ecr").file, (d.path / "a.yaml").string());
    EXPECT_EQ(r->at("other").file, (d.path / "b.yml").string());
}

TEST(Workflow, LoadFailsOnDuplicateNameNamingBothFiles) {
    TempDir d;
    d.write("first.yaml", kValid);
    d.write("second.yaml", kValid);
    auto r = load_workflows(d.path.string());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    const auto& m = r.error().message;
    EXPECT_NE(m.find("second.yaml: 'workflow.name' 'ecr'"), std::string::npos) << m;
    EXPECT_NE(m.find("first.yaml"), std::string::npos) << m;
}

TEST(Workflow, LoadFailsOnNonYamlFile) {
    TempDir d;
    d.write("a.yaml", kValid);
    d.write("broken.yaml", "workflow: {name: [unclosed\n");
    auto r = load_workflows(d.path.string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("broken.yaml: not valid YAML"), std::string::npos)
        << r.error().message;
}

TEST(Workflow, LoadFailsOnBadFileNamingFileAndField) {
    TempDir d;
    d.write("a.yaml", kValid);
    d.write("z.yml", replace(replace(kValid, "name: ecr", "name: z"), "  version: 2",
                             "  version: 2\n  owner: me"));
    auto r = load_workflows(d.path.string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("z.yml: 'workflow.owner' is not a known key"),
              std::string::npos)
        << r.error().message;
}

TEST(Workflow, LoadFailsWhenPathIsAFile) {
    TempDir d;
    d.write("a.yaml", kValid);
    auto r = load_workflows((d.path / "a.yaml").string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("a.yaml"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// State machine

TEST(WorkflowState, InitialState) {
    auto wf = make_workflow({{"admin", true}});
    EXPECT_EQ(initial_state(wf, false).value(), "pending");
    EXPECT_EQ(initial_state(wf, true).value(), "draft");
    wf.states = {"pending", "approved", "rejected"};
    EXPECT_EQ(initial_state(wf, false).value(), "pending");
    auto r = initial_state(wf, true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
}

TEST(WorkflowState, Terminal) {
    auto wf = make_workflow({{"admin", true}});
    EXPECT_FALSE(is_terminal(wf, "draft"));
    EXPECT_FALSE(is_terminal(wf, "pending"));
    EXPECT_TRUE(is_terminal(wf, "approved"));
    EXPECT_TRUE(is_terminal(wf, "rejected"));
    EXPECT_TRUE(is_terminal(wf, "cancelled"));
}

TEST(WorkflowState, OneGate) {
    auto wf = make_workflow({{"admin", true}});
    EXPECT_EQ(next_state(wf, {}), "pending");
    EXPECT_EQ(next_state(wf, {ok("root", "admin")}), "approved");
    EXPECT_EQ(next_state(wf, {no("root", "admin")}), "rejected");
}

TEST(WorkflowState, CustomRuleTargets) {
    auto wf = make_workflow({{"admin", true}});
    wf.states = {"pending", "released", "refused"};
    wf.any_reject = "refused";
    wf.all_required_approve = "released";
    EXPECT_EQ(next_state(wf, {ok("root", "admin")}), "released");
    EXPECT_EQ(next_state(wf, {no("root", "admin")}), "refused");
}

TEST(WorkflowState, TwoRequiredGates) {
    auto wf = make_workflow({{"editor", true}, {"admin", true}});
    EXPECT_EQ(next_state(wf, {ok("a", "editor")}), "pending");
    EXPECT_EQ(next_state(wf, {ok("b", "admin")}), "pending");
    EXPECT_EQ(next_state(wf, {ok("a", "editor"), ok("b", "admin")}), "approved");
    EXPECT_EQ(next_state(wf, {ok("b", "admin"), ok("a", "editor")}), "approved");
    // a rejection after one approval rejects
    EXPECT_EQ(next_state(wf, {ok("a", "editor"), no("b", "admin")}), "rejected");
    EXPECT_EQ(next_state(wf, {no("a", "editor")}), "rejected");
    // two approvals of one gate do not complete the other
    EXPECT_EQ(next_state(wf, {ok("a", "editor"), ok("c", "editor")}), "pending");
    // unknown statuses count for nothing
    EXPECT_EQ(next_state(wf, {ok("a", "editor"), {"b", "admin", "abstained"}}), "pending");
}

TEST(WorkflowState, ThreeGatesRequiredAndOptional) {
    auto wf = make_workflow({{"editor", true}, {"quality", true}, {"manufacturing", false}});
    // the optional gate's approval alone does not complete
    EXPECT_EQ(next_state(wf, {ok("m", "manufacturing")}), "pending");
    EXPECT_EQ(next_state(wf, {ok("m", "manufacturing"), ok("e", "editor")}), "pending");
    // all required approved, optional unsigned: approved
    EXPECT_EQ(next_state(wf, {ok("e", "editor"), ok("q", "quality")}), "approved");
    EXPECT_EQ(next_state(wf, {ok("q", "quality"), ok("m", "manufacturing"), ok("e", "editor")}),
              "approved");
    // an optional gate's rejection rejects too
    EXPECT_EQ(next_state(wf, {ok("e", "editor"), no("m", "manufacturing")}), "rejected");
    EXPECT_EQ(next_state(wf, {no("m", "manufacturing")}), "rejected");
    // reject after two approvals
    EXPECT_EQ(next_state(wf, {ok("e", "editor"), ok("m", "manufacturing"), no("q", "quality")}),
              "rejected");
}

TEST(WorkflowState, SequentialSigningStopsAtTerminal) {
    // Drive the machine signature by signature, as the service does.
    auto wf = make_workflow({{"editor", true}, {"admin", true}});
    ApprovalState a{"pending", {}};
    std::vector<Designation> none;
    SignerInfo alice{"alice", Role::editor, true}, root{"root", Role::admin, true},
        bob{"bob", Role::editor, true};

    auto g = gate_for_signer(wf, a, none, alice, "creator", false);
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(*g, "editor");
    a.signatures.push_back(ok("alice", *g));
    a.state = next_state(wf, a.signatures);
    EXPECT_EQ(a.state, "pending");

    g = gate_for_signer(wf, a, none, root, "creator", false);
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(*g, "admin");  // the editor gate is done: the admin takes the open admin gate
    a.signatures.push_back(ok("root", *g));
    a.state = next_state(wf, a.signatures);
    EXPECT_EQ(a.state, "approved");

    g = gate_for_signer(wf, a, none, bob, "creator", false);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code, Errc::conflict);
    EXPECT_EQ(g.error().message, "approval is approved; it accepts no more signatures");
}

// ---------------------------------------------------------------------------------------------
// Eligibility

TEST(WorkflowEligibility, TerminalDraftAndCancelledRefuse) {
    auto wf = make_workflow({{"editor", true}});
    SignerInfo bob{"bob", Role::editor, true};
    for (const char* state : {"draft", "approved", "rejected", "cancelled"}) {
        auto g = gate_for_signer(wf, {state, {}}, {}, bob, "alice", false);
        ASSERT_FALSE(g.ok()) << state;
        EXPECT_EQ(g.error().code, Errc::conflict);
        EXPECT_EQ(g.error().message,
                  std::string("approval is ") + state + "; it accepts no more signatures");
    }
}

TEST(WorkflowEligibility, DoubleSignConflicts) {
    auto wf = make_workflow({{"editor", true}, {"admin", true}});
    ApprovalState a{"pending", {ok("root", "editor")}};
    auto g = gate_for_signer(wf, a, {}, {"root", Role::admin, true}, "alice", false);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code, Errc::conflict);
    EXPECT_EQ(g.error().message, "root has already signed");
}

TEST(WorkflowEligibility, RoleLadder) {
    auto wf = make_workflow({{"editor", true}});
    ApprovalState a{"pending", {}};
    EXPECT_EQ(gate_for_signer(wf, a, {}, {"e", Role::editor, true}, "c", false).value(), "editor");
    EXPECT_EQ(gate_for_signer(wf, a, {}, {"r", Role::admin, true}, "c", false).value(), "editor");
    auto v = gate_for_signer(wf, a, {}, {"v", Role::viewer, true}, "c", false);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, Errc::forbidden);

    auto admin_only = make_workflow({{"admin", true}});
    auto e = gate_for_signer(admin_only, a, {}, {"e", Role::editor, true}, "c", false);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, Errc::forbidden);
}

TEST(WorkflowEligibility, DesignatedOnly) {
    auto wf = make_workflow({{"admin", true}});
    ApprovalState a{"pending", {}};
    std::vector<Designation> des{{"carol", "admin"}};
    // an admin who is not designated may not sign a designated gate
    auto root = gate_for_signer(wf, a, des, {"root", Role::admin, true}, "c", false);
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error().code, Errc::forbidden);
    // the designated user may, while their role is up to the gate's
    EXPECT_EQ(gate_for_signer(wf, a, des, {"carol", Role::admin, true}, "c", false).value(),
              "admin");
    // a designation does not lower an auth-role gate's bar (issue 20: an editor named for
    // the admin gate cannot sign it)
    auto editor = gate_for_signer(wf, a, des, {"carol", Role::editor, true}, "c", false);
    ASSERT_FALSE(editor.ok());
    EXPECT_EQ(editor.error().code, Errc::forbidden);
    EXPECT_TRUE(may_sign_gate("admin", Role::admin));
    EXPECT_FALSE(may_sign_gate("admin", Role::editor));
    EXPECT_TRUE(may_sign_gate("editor", Role::admin));
    EXPECT_TRUE(may_sign_gate("quality", Role::viewer));
}

TEST(WorkflowEligibility, NonAuthGateRoleNeedsADesignation) {
    auto wf = make_workflow({{"quality", true}});
    ApprovalState a{"pending", {}};
    auto r = gate_for_signer(wf, a, {}, {"root", Role::admin, true}, "c", false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::forbidden);
    EXPECT_NE(r.error().message.find("root"), std::string::npos);

    std::vector<Designation> des{{"quinn", "quality"}};
    EXPECT_EQ(gate_for_signer(wf, a, des, {"quinn", Role::viewer, true}, "c", false).value(),
              "quality");
    EXPECT_FALSE(gate_for_signer(wf, a, des, {"root", Role::admin, true}, "c", false).ok());
}

TEST(WorkflowEligibility, SelfApprovalFlag) {
    auto wf = make_workflow({{"editor", true}});
    ApprovalState a{"pending", {}};
    SignerInfo alice{"alice", Role::editor, true};
    auto blocked = gate_for_signer(wf, a, {}, alice, "alice", false);
    ASSERT_FALSE(blocked.ok());
    EXPECT_EQ(blocked.error().code, Errc::forbidden);
    auto allowed = gate_for_signer(wf, a, {}, alice, "alice", true);
    ASSERT_TRUE(allowed.ok()) << allowed.error().message;
    EXPECT_EQ(*allowed, "editor");
    // the flag does not make anyone eligible who is not
    auto viewer = gate_for_signer(wf, a, {}, {"vic", Role::viewer, true}, "vic", true);
    ASSERT_FALSE(viewer.ok());
    EXPECT_EQ(viewer.error().code, Errc::forbidden);
}

TEST(WorkflowEligibility, InactiveUserForbidden) {
    auto wf = make_workflow({{"editor", true}});
    std::vector<Designation> des{{"ed", "editor"}};
    auto r = gate_for_signer(wf, {"pending", {}}, des, {"ed", Role::admin, false}, "c", false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::forbidden);
}

TEST(WorkflowEligibility, GateChoiceAmongSeveral) {
    // required editor, required admin, optional "review" designated to root and root2
    auto wf = make_workflow({{"editor", true}, {"admin", true}, {"review", false}});
    std::vector<Designation> des{{"root", "review"}, {"root2", "review"}};
    SignerInfo root{"root", Role::admin, true};

    // required gates first, even before an optional one root was named for: a signature spent
    // there could leave a required gate without anybody to sign it
    EXPECT_EQ(gate_for_signer(wf, {"pending", {}}, des, root, "c", false).value(), "editor");
    EXPECT_EQ(gate_for_signer(wf, {"pending", {ok("e", "editor")}}, des, root, "c", false).value(), "admin");
    // required gates done: the optional gate root was named for
    EXPECT_EQ(gate_for_signer(wf, {"pending", {ok("e", "editor"), ok("r", "admin")}}, des, root, "c", false)
                  .value(),
              "review");
    // everything root may sign is settled: the signature would decide nothing (409)
    ApprovalState a{"pending", {ok("e", "editor"), ok("r", "admin"), ok("root2", "review")}};
    auto settled = gate_for_signer(wf, a, des, root, "c", false);
    ASSERT_FALSE(settled.ok());
    EXPECT_EQ(settled.error().code, Errc::conflict);
    // a rejection is refused alike: it would land on no open gate
    auto editor_done = gate_for_signer(wf, {"pending", {ok("e", "editor")}}, des, {"e2", Role::editor, true},
                                       "c", false);
    ASSERT_FALSE(editor_done.ok());
    EXPECT_EQ(editor_done.error().code, Errc::conflict);
    // an editor is eligible only for the editor gate
    EXPECT_EQ(gate_for_signer(wf, {"pending", {ok("r", "admin")}}, des, {"e", Role::editor, true},
                              "c", false)
                  .value(),
              "editor");
}

TEST(WorkflowEligibility, EachRequiredGateNeedsASignerOfItsOwn) {
    using C = std::vector<std::vector<std::string>>;
    EXPECT_TRUE(gates_get_distinct_signers(C{}));
    EXPECT_TRUE(gates_get_distinct_signers(C{{"a"}, {"b"}}));
    EXPECT_FALSE(gates_get_distinct_signers(C{{"a"}, {"a"}})) << "one person, two gates";
    EXPECT_FALSE(gates_get_distinct_signers(C{{"a"}, {}}));
    // The first gate takes "a" first, then gives it up for the second, which has nobody else.
    EXPECT_TRUE(gates_get_distinct_signers(C{{"a", "b"}, {"a"}}));
    EXPECT_TRUE(gates_get_distinct_signers(C{{"a", "b"}, {"a", "c"}, {"b"}}));
    EXPECT_FALSE(gates_get_distinct_signers(C{{"a", "b"}, {"a", "b"}, {"a", "b"}}));
}

TEST(WorkflowEligibility, DesignatedGateBeforeRoleGate) {
    // issue 20: quinn, an editor designated only for quality, signs quality, not editor.
    auto wf = make_workflow({{"editor", true}, {"quality", true}, {"admin", true}});
    std::vector<Designation> des{{"quinn", "quality"}};
    SignerInfo quinn{"quinn", Role::editor, true};
    EXPECT_EQ(gate_for_signer(wf, {"pending", {}}, des, quinn, "c", false).value(), "quality");
    // once quality is approved, quinn's role still opens the editor gate
    EXPECT_EQ(gate_for_signer(wf, {"pending", {ok("q2", "quality")}}, des, quinn, "c", false).value(), "editor");
}

TEST(WorkflowEligibility, ShippedEngineeringChange) {
    auto all = load_workflows(kDir);
    ASSERT_TRUE(all.ok()) << all.error().message;
    const auto& wf = all->at("engineering-change");
    ASSERT_TRUE(validate_designations(wf, {{"quinn", "quality"}}).ok());
    std::vector<Designation> des{{"quinn", "quality"}};
    ApprovalState a{"pending", {}};
    auto sign = [&](const SignerInfo& s, const char* status) {
        auto g = gate_for_signer(wf, a, des, s, "alice", false);
        EXPECT_TRUE(g.ok()) << g.error().message;
        if (!g.ok()) return std::string();
        a.signatures.push_back({s.username, *g, status});
        a.state = next_state(wf, a.signatures);
        return *g;
    };
    EXPECT_EQ(sign({"ed", Role::editor, true}, "approved"), "editor");
    EXPECT_EQ(a.state, "pending");
    EXPECT_EQ(sign({"quinn", Role::viewer, true}, "approved"), "quality");
    EXPECT_EQ(a.state, "pending");
    // an admin who is not the creator completes the manager gate
    EXPECT_EQ(sign({"boss", Role::admin, true}, "approved"), "admin");
    EXPECT_EQ(a.state, "approved");
}

TEST(WorkflowDesignations, Validate) {
    auto wf = make_workflow({{"editor", true}, {"quality", true}});
    EXPECT_TRUE(validate_designations(wf, {}).ok());
    EXPECT_TRUE(validate_designations(wf, {{"q", "quality"}, {"e", "editor"}}).ok());

    auto bad_role = validate_designations(wf, {{"q", "quality"}, {"x", "admin"}});
    ASSERT_FALSE(bad_role.ok());
    EXPECT_EQ(bad_role.error().code, Errc::bad_request);
    EXPECT_NE(bad_role.error().message.find("signers[1].role 'admin'"), std::string::npos)
        << bad_role.error().message;

    auto empty_user = validate_designations(wf, {{"", "quality"}});
    ASSERT_FALSE(empty_user.ok());
    EXPECT_EQ(empty_user.error().code, Errc::bad_request);
    EXPECT_NE(empty_user.error().message.find("signers[0].username"), std::string::npos);

    EXPECT_FALSE(validate_designations(wf, {{"q", ""}}).ok());
}
