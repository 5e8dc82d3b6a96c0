#ifndef NANOEDGE_CPOSTGRES_SHIM_H
#define NANOEDGE_CPOSTGRES_SHIM_H
#include <libpq-fe.h>

/* PG_DIAG_SQLSTATE is a character constant in postgres_ext.h; Swift does not import those as Int32. */
static inline char *nanoedge_pq_sqlstate(const PGresult *result) {
  return PQresultErrorField(result, 'C');
}

static inline char *nanoedge_pq_detail(const PGresult *result) {
  return PQresultErrorField(result, 'D');
}
#endif
