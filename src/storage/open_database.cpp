// Chooses the driver named by the options.
#include "storage/postgres/postgres_database.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/sqlite_database.hpp"

namespace silo::sql {

Result<std::unique_ptr<Database>> open_database(const DatabaseOptions& options) {
    switch (options.dialect) {
        case Dialect::sqlite: {
            SILO_TRY(auto db, SqliteDatabase::open(options.sqlite_path));
            return std::unique_ptr<Database>(std::move(db));
        }
        case Dialect::postgres: {
            SILO_TRY(auto db, PostgresDatabase::open(options.postgres_url));
            return std::unique_ptr<Database>(std::move(db));
        }
    }
    return Error{Errc::internal, "unknown database dialect"};
}

const std::vector<Migration>& migrations(Dialect dialect) {
    return dialect == Dialect::postgres ? postgres_migrations() : sqlite_migrations();
}

}  // namespace silo::sql
