// Reading and verifying the audit log (writes happen inside each service's transaction via
// AuditRepository::append). Thread-safe.
#pragma once

#include "core/error.hpp"
#include "storage/audit_repository.hpp"
#include "storage/sql.hpp"

namespace silo {

class AuditService {
public:
    explicit AuditService(sql::Database& db) : db_(db) {}
    Result<AuditPage> list(const AuditFilter& f) {
        return db_.transact<AuditPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<AuditPage> {
            return AuditRepository::list(tx, f);
        });
    }
    Result<AuditVerification> verify(const std::optional<AuditAnchor>& anchor = std::nullopt) {
        return db_.transact<AuditVerification>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<AuditVerification> {
            return AuditRepository::verify(tx, anchor);
        });
    }

private:
    sql::Database& db_;
};

}  // namespace silo
