// Route registration: one function per resource file. The composition root calls them all.
#pragma once

#include "config/config.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "auth/auth_service.hpp"
#include "service/approval_service.hpp"
#include "service/audit_service.hpp"
#include "service/checkpoint_service.hpp"
#include "service/handoff_service.hpp"
#include "service/item_service.hpp"
#include "service/revision_service.hpp"
#include "service/user_service.hpp"
#include "service/session_service.hpp"
#include "service/workstation_service.hpp"
#include "events/hub.hpp"
#include "storage/sql.hpp"

namespace silo::api {

// What the system routes need to answer /health, /ready and /api/modules.
struct SystemContext {
    const Config* config = nullptr;
    sql::Database* db = nullptr;
    const http::Server* server = nullptr;  // for the open stream count (may be null in tests)
    std::string storage_root;              // storage.root_dir, probed for writability by /ready
};

void add_system_routes(http::Router& router, const SystemContext& ctx);
void add_item_routes(http::Router& router, ItemService& items);
// /login, /logout, /api/auth/me, /api/auth/tokens...
void add_auth_routes(http::Router& router, AuthService& auth, bool auth_enabled);
// /api/admin/users...
void add_user_routes(http::Router& router, UserService& users);
// /api/audit, /api/audit/verify
void add_audit_routes(http::Router& router, AuditService& audit);

// /api/workflows, /api/workflows/{name}
void add_workflow_routes(http::Router& router, ApprovalService& approvals);
// /api/items/{pn}/approvals..., /api/approvals...
void add_approval_routes(http::Router& router, ApprovalService& approvals);

// /api/items/{pn}/edit-sessions..., /api/edit-sessions
void add_session_routes(http::Router& router, SessionService& sessions);
// /api/items/{pn}/file, /api/items/{pn}/revisions, /api/items/{pn}/file/{rev}
void add_revision_routes(http::Router& router, RevisionService& revisions);
// /api/items/{pn}/checkpoints...
void add_checkpoint_routes(http::Router& router, CheckpointService& checkpoints);
// request-handoff, force-release, /api/handoff-requests...
void add_handoff_routes(http::Router& router, HandoffService& handoffs, const SessionService& sessions);
// /api/workstations...
void add_workstation_routes(http::Router& router, WorkstationService& workstations);

struct EventsContext {
    EventHub* hub = nullptr;
    ItemService* items = nullptr;
    WorkstationService* workstations = nullptr;
    int max_streams_per_user = 1000;  // 0: unlimited
    // (item id, session id) of the edit sessions a workstation holds (their items count as
    // watched). May be empty.
    std::function<std::vector<std::pair<std::string, std::string>>(const std::string& workstation_id)> held_sessions;
};
// GET /api/events
void add_event_routes(http::Router& router, const EventsContext& ctx);

nlohmann::json user_json(const UserRecord& u);
nlohmann::json approval_json(const ApprovalRecord& a);

}  // namespace silo::api
