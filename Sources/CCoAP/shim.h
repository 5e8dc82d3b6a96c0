#ifndef NANOEDGE_CCOAP_SHIM_H
#define NANOEDGE_CCOAP_SHIM_H
#include <coap3/coap.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
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
/* --- The DTLS handshake gate (DTLSHandshakeGate.swift) --- */

/* A peer's address as bytes (4 for IPv4, IPv4-mapped IPv6 included; 16 for IPv6) and its port.
   Returns the number of address bytes, or 0 for another family. */
static inline size_t nanoedge_sockaddr_key(const struct sockaddr *sa, uint8_t out[16], uint16_t *port) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memcpy(out, &in->sin_addr, 4);
    *port = ntohs(in->sin_port);
    return 4;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      memcpy(out, ((const uint8_t *)&in6->sin6_addr) + 12, 4);
      return 4;
    }
    memcpy(out, &in6->sin6_addr, 16);
    return 16;
  }
  return 0;
}

static inline size_t nanoedge_coap_address_key(const coap_address_t *address, uint8_t out[16], uint16_t *port) {
  return nanoedge_sockaddr_key(&address->addr.sa, out, port);
}

/* Unconnected UDP sockets bound to `port` (0: any): libcoap does not hand out an endpoint's socket,
   so the gate finds it as the one that appeared when the endpoint was made. Returns the count, or -1. */
static inline int nanoedge_bound_udp_fds(uint16_t port, int *out, int cap) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int n = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd == dirfd(dir)) continue;
    int type = 0;
    socklen_t length = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_DGRAM) continue;
    struct sockaddr_storage peer;
    length = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &length) == 0) continue; /* a client session's socket */
    struct sockaddr_storage local;
    length = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0) continue;
    uint8_t key[16];
    uint16_t bound = 0;
    if (nanoedge_sockaddr_key((struct sockaddr *)&local, key, &bound) == 0 || bound == 0) continue;
    if (port != 0 && bound != port) continue;
    if (n < cap) out[n++] = fd;
  }
  closedir(dir);
  return n;
}

/* Looks at the next datagram on `fd` without taking it. Returns its full length (bytes past `cap` are
   not copied), 0 when none waits, -1 on another error. */
static inline ssize_t nanoedge_peek_datagram(int fd, uint8_t *buf, size_t cap, uint8_t key[16],
                                             size_t *key_length, uint16_t *port) {
  struct sockaddr_storage from;
  socklen_t length = sizeof from;
  ssize_t n;
  do {
    n = recvfrom(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &length);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  *key_length = nanoedge_sockaddr_key((struct sockaddr *)&from, key, port);
  return n;
}

/* Takes the next datagram off `fd` and, when `reply` is given, answers its sender with it. */
static inline void nanoedge_take_datagram(int fd, const uint8_t *reply, size_t reply_length) {
  struct sockaddr_storage from;
  socklen_t length = sizeof from;
  uint8_t scratch[1];
  ssize_t n;
  do {
    n = recvfrom(fd, scratch, sizeof scratch, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &length);
  } while (n < 0 && errno == EINTR);
  if (n >= 0 && reply && reply_length) {
    (void)sendto(fd, reply, reply_length, MSG_DONTWAIT, (struct sockaddr *)&from, length);
  }
}

/* HMAC-SHA256 of `data` under `key`; 32 bytes into `out`. Returns 1 on success. */
static inline int nanoedge_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data,
                                       size_t data_length, uint8_t out[32]) {
  unsigned int length = 32;
  return HMAC(EVP_sha256(), key, (int)key_length, data, data_length, out, &length) != NULL && length == 32;
}

static inline int nanoedge_equal_secret(const uint8_t *a, const uint8_t *b, size_t length) {
  return CRYPTO_memcmp(a, b, length) == 0;
}
/* libcoap keeps one SSL_CTX per context for all its DTLS sessions, and checks ClientHello cookies with
   callbacks on it. These hand that check to the gate, which issued the cookie. */
typedef int (*nanoedge_cookie_generate_cb)(SSL *, unsigned char *, unsigned int *);
typedef int (*nanoedge_cookie_verify_cb)(SSL *, const unsigned char *, unsigned int);

static inline int nanoedge_ssl_ctx_new_index(void) {
  return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Installs the cookie callbacks on the SSL_CTX behind `ssl` and stores `owner` beside them. */
static inline int nanoedge_take_over_cookies(void *ssl, int index, void *owner,
                                             nanoedge_cookie_generate_cb generate,
                                             nanoedge_cookie_verify_cb verify) {
  SSL_CTX *ctx = SSL_get_SSL_CTX((SSL *)ssl);
  if (!ctx || index < 0 || !SSL_CTX_set_ex_data(ctx, index, owner)) return 0;
  SSL_CTX_set_cookie_generate_cb(ctx, generate);
  SSL_CTX_set_cookie_verify_cb(ctx, verify);
  return 1;
}

static inline void *nanoedge_cookie_owner(SSL *ssl, int index) {
  SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
  return ctx ? SSL_CTX_get_ex_data(ctx, index) : NULL;
}
/* The gate drives libcoap's epoll set itself (libcoap's documented pattern for outside event loops:
   epoll_wait on coap_context_get_coap_fd(), then coap_io_do_epoll), so libcoap reads a DTLS listen
   socket only when the gate has looked at the datagram at its head. */

/* The epoll data libcoap registered for `fd` in `epfd`, from /proc/self/fdinfo (proc(5)). 1 when found. */
static inline int nanoedge_epoll_data_for_fd(int epfd, int fd, uint64_t *data) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
  FILE *file = fopen(path, "re");
  if (!file) return 0;
  char line[256];
  int found = 0;
  while (fgets(line, sizeof line, file)) {
    int tfd;
    unsigned events;
    unsigned long long value;
    if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &value) == 3 && tfd == fd) {
      *data = value;
      found = 1;
      break;
    }
  }
  fclose(file);
  return found;
}

/* One pass over libcoap's epoll set without waiting. Events whose data is in held[0..nheld) are kept
   back and flagged in held_ready; every other event goes to libcoap. Returns the events seen, or -1. */
static inline int nanoedge_coap_epoll_pass(coap_context_t *ctx, int epfd, const uint64_t *held, int nheld,
                                           int *held_ready) {
  struct epoll_event events[32], others[32];
  int n, k = 0;
  do {
    n = epoll_wait(epfd, events, 32, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return n;
  for (int i = 0; i < n; i++) {
    int kept = 0;
    for (int h = 0; h < nheld; h++) {
      if (events[i].data.u64 == held[h]) {
        held_ready[h] = 1;
        kept = 1;
        break;
      }
    }
    if (!kept) others[k++] = events[i];
  }
  if (k) coap_io_do_epoll(ctx, others, (size_t)k);
  return n;
}

/* Lets libcoap read one datagram from the held socket whose epoll data is `data`. */
static inline void nanoedge_coap_epoll_read(coap_context_t *ctx, uint64_t data) {
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = EPOLLIN;
  event.data.u64 = data;
  coap_io_do_epoll(ctx, &event, 1);
}
#endif
