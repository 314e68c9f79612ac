/* store_impl: what the store's own files share: the connection, and the schema
 * of the tables they keep. Only agent/store*.c include this. */
#ifndef GANZHI_STORE_IMPL_H
#define GANZHI_STORE_IMPL_H

#include <sqlite3.h>
#include "agent/store.h"

sqlite3 *store_db(struct store *s);

/* Every command a platform sent, done or refused; a verified id is never done
 * twice (the replay window survives restarts). */
#define STORE_COMMAND_SCHEMA \
    "CREATE TABLE IF NOT EXISTS command(uplink TEXT NOT NULL, id TEXT NOT NULL," \
    " verified INTEGER NOT NULL, received INTEGER NOT NULL, ts INTEGER, cmd TEXT," \
    " outcome TEXT NOT NULL);" \
    "CREATE INDEX IF NOT EXISTS command_seen ON command(uplink, id) WHERE verified;" \
    "CREATE INDEX IF NOT EXISTS command_received ON command(received);"

#endif
