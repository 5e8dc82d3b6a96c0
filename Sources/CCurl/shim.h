#ifndef NANOEDGE_CCURL_SHIM_H
#define NANOEDGE_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
   wrapper per argument type. */
typedef size_t (*nanoedge_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);

static inline CURLcode nanoedge_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode nanoedge_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode nanoedge_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode nanoedge_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode nanoedge_curl_set_callback(CURL *handle, CURLoption option, nanoedge_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode nanoedge_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif
