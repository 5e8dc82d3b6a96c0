#ifndef NANOEDGE_CCOAP_SHIM_H
#define NANOEDGE_CCOAP_SHIM_H
#include <coap3/coap.h>
#include <netdb.h>
#include <nss.h>
#include <string.h>
#include <sys/socket.h>

/* Resolves host:port (numeric or name) for a datagram socket. Returns 0 on success, else a getaddrinfo code. */
static inline int nanoedge_coap_resolve(const char *host, uint16_t port, coap_address_t *out) {
  struct addrinfo hints, *res = NULL;
  char service[8];
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(service, sizeof service, "%u", (unsigned)port);
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) return rc;
  coap_address_init(out);
  out->size = res->ai_addrlen;
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* Host names through glibc's built-in "files" and "dns" lookups only. Any other NSS module that
   nsswitch.conf names (nss-mdns on Raspberry Pi OS) is a shared object that a static binary would
   load together with the system's libc.so.6, whose version need not be the one linked in. */
static inline int nanoedge_hosts_lookup_builtin_only(void) {
  return __nss_configure_lookup("hosts", "files dns");
}

/* Reads an unsigned integer option (Observe, Content-Format). Returns 1 when present. */
static inline int nanoedge_coap_uint_option(const coap_pdu_t *pdu, uint16_t number, uint32_t *value) {
  coap_opt_iterator_t it;
  coap_opt_t *opt = coap_check_option(pdu, number, &it);
  if (!opt) return 0;
  *value = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
  return 1;
}

/* Appends every option `number` of the PDU, separated by `sep`, into buf (NUL-terminated). Returns the length. */
static inline size_t nanoedge_coap_join_options(const coap_pdu_t *pdu, uint16_t number, char sep,
                                               char *buf, size_t cap) {
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  coap_opt_t *opt;
  size_t used = 0;
  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, number);
  coap_option_iterator_init(pdu, &it, &filter);
  while ((opt = coap_option_next(&it)) != NULL) {
    size_t len = coap_opt_length(opt);
    if (used && used + 1 < cap) buf[used++] = sep;
    if (used + len >= cap) break;
    memcpy(buf + used, coap_opt_value(opt), len);
    used += len;
  }
  if (cap) buf[used < cap ? used : cap - 1] = 0;
  return used;
}

/* libcoap 4.3.5 made the log level an enum (coap_log_t) and the block mode 32 bits wide, where 4.3.1
   took an int and a uint8_t: one signature for both, so the Swift side builds against either. */
static inline void nanoedge_coap_set_log_levels(int level) {
  coap_set_log_level((coap_log_t)level);
  coap_dtls_set_log_level((coap_log_t)level);
}
static inline void nanoedge_coap_set_block_mode(coap_context_t *ctx, uint32_t mode) {
  coap_context_set_block_mode(ctx, mode);
}

static inline uint32_t nanoedge_coap_ticks_ms(void) {
  coap_tick_t now;
  coap_ticks(&now);
  return (uint32_t)(now * 1000 / COAP_TICKS_PER_SECOND);
}
#endif
