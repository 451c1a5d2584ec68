#ifndef ARB_CSQLITE_SHIM_H
#define ARB_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a function-pointer cast that Swift cannot import.
// Binding with it makes SQLite copy the bytes before sqlite3_bind_* returns.
static inline void (*arb_sqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }
#endif
