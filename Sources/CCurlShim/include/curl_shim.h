#ifndef ETHSTACK_CURL_SHIM_H
#define ETHSTACK_CURL_SHIM_H
#include <curl/curl.h>

/* Non-variadic wrappers: Swift cannot call curl_easy_setopt / curl_easy_getinfo directly. */
CURLcode ethstack_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode ethstack_setopt_ptr(CURL *handle, CURLoption option, void *value);
CURLcode ethstack_setopt_str(CURL *handle, CURLoption option, const char *value);
CURLcode ethstack_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode ethstack_setopt_write_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode ethstack_setopt_header_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode ethstack_setopt_read_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode ethstack_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode ethstack_getinfo_double(CURL *handle, CURLINFO info, double *value);
#endif
