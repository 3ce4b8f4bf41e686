/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The cloud link of zpair_core::client::CloudLink: one HTTP/1.1 POST of a CBOR body per
 * connection ("Connection: close"), over a TLS socket (Zephyr's TLS sockets, credentials under
 * CONFIG_ZPAIR_CLOUD_CA_TAG) or, for tests against a local cloud, plain TCP.
 *
 * Bodies are small (zpair_core::activation::MAX_MESSAGE_LEN = 192 bytes), so the request is
 * written from one buffer and the whole response is read into another before parsing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/socket.h>
#if defined(CONFIG_ZPAIR_CLOUD_TLS)
#include <zephyr/net/tls_credentials.h>
#endif

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define HOST_MAX 64

/* Only the zpair thread posts: one static buffer for request headers and response. */
static char http_buf[CONFIG_ZPAIR_CLOUD_BUF_SIZE];

static int resolve(const char *host, uint16_t port, struct sockaddr_in *addr)
{
	struct zsock_addrinfo hints = {
		.ai_family = AF_INET,
		.ai_socktype = SOCK_STREAM,
	};
	struct zsock_addrinfo *res = NULL;
	int rc;

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons(port);
	if (zsock_inet_pton(AF_INET, host, &addr->sin_addr) == 1) {
		return 0;
	}
	rc = zsock_getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		LOG_WRN("cloud: cannot resolve %s (%d)", host, rc);
		return -EHOSTUNREACH;
	}
	if (res->ai_family != AF_INET || res->ai_addrlen < sizeof(struct sockaddr_in)) {
		zsock_freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	addr->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	zsock_freeaddrinfo(res);
	return 0;
}

static int send_all(int sock, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = zsock_send(sock, p, len, 0);

		if (n < 0) {
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Case-insensitive prefix match of a header line. */
static bool header_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < n; i++) {
		char c = line[i];

		if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
		}
		if (c != name[i]) {
			return false;
		}
	}
	return true;
}

/* Parses the response in http_buf[0..len): status, Content-Length, body. */
static int parse_response(size_t len, uint8_t *resp, size_t cap, size_t *resp_len,
			  uint16_t *status)
{
	char *end;
	char *line;
	long content_length = -1;
	size_t header_len;
	size_t body_len;
	unsigned int code;

	/* http_buf has one spare byte: terminate for the string functions. */
	http_buf[len] = '\0';
	end = strstr(http_buf, "\r\n\r\n");
	if (end == NULL || strncmp(http_buf, "HTTP/1.", 7) != 0 || len < 12) {
		return -EBADMSG;
	}
	header_len = (size_t)(end - http_buf) + 4;
	/* "HTTP/1.x NNN ...": three digits, then a space or the end of the line (no sscanf: the
	 * minimal libc has none).
	 */
	code = 0;
	for (int i = 9; i < 12; i++) {
		if (http_buf[i] < '0' || http_buf[i] > '9') {
			return -EBADMSG;
		}
		code = code * 10 + (unsigned int)(http_buf[i] - '0');
	}
	if ((http_buf[12] != ' ' && http_buf[12] != '\r') || code < 100 || code > 599) {
		return -EBADMSG;
	}
	line = strstr(http_buf, "\r\n");
	while (line != NULL && line < end) {
		line += 2;
		if (header_is(line, "content-length:")) {
			content_length = strtol(line + 15, NULL, 10);
		} else if (header_is(line, "transfer-encoding:")) {
			return -EBADMSG; /* chunked bodies are not expected from the cloud */
		}
		line = strstr(line, "\r\n");
	}
	body_len = len - header_len;
	if (content_length >= 0) {
		if ((size_t)content_length > body_len) {
			return -EBADMSG; /* connection closed early */
		}
		body_len = (size_t)content_length;
	}
	if (body_len > cap) {
		return -EMSGSIZE;
	}
	if (body_len > 0) {
		memcpy(resp, http_buf + header_len, body_len);
	}
	*resp_len = body_len;
	*status = (uint16_t)code;
	return 0;
}

int zpair_cloud_post(const char *host, size_t host_len, uint16_t port, const char *path,
		     size_t path_len, const uint8_t *body, size_t body_len, uint8_t *resp,
		     size_t cap, size_t *resp_len, uint16_t *status)
{
	char hostz[HOST_MAX + 1];
	struct sockaddr_in addr;
	struct timeval tv = {
		.tv_sec = CONFIG_ZPAIR_CLOUD_TIMEOUT_MS / 1000,
		.tv_usec = (CONFIG_ZPAIR_CLOUD_TIMEOUT_MS % 1000) * 1000,
	};
	size_t got = 0;
	int proto = IPPROTO_TCP;
	int sock;
	int rc;
	int n;

	if (path == NULL || path_len == 0 || path_len > 128 || resp_len == NULL ||
	    status == NULL || (body == NULL && body_len > 0) || (resp == NULL && cap > 0)) {
		return -EINVAL;
	}
	*resp_len = 0;
	*status = 0;
	if (host == NULL || host_len == 0) {
		host = CONFIG_ZPAIR_CLOUD_HOST;
		host_len = strlen(CONFIG_ZPAIR_CLOUD_HOST);
	}
	if (host_len > HOST_MAX) {
		return -EINVAL;
	}
	memcpy(hostz, host, host_len);
	hostz[host_len] = '\0';
	if (port == 0) {
		port = CONFIG_ZPAIR_CLOUD_PORT;
	}

	rc = resolve(hostz, port, &addr);
	if (rc != 0) {
		return rc;
	}

#if defined(CONFIG_ZPAIR_CLOUD_TLS)
	proto = IPPROTO_TLS_1_2;
#endif
	sock = zsock_socket(AF_INET, SOCK_STREAM, proto);
	if (sock < 0) {
		return -errno;
	}
	(void)zsock_setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)zsock_setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
#if defined(CONFIG_ZPAIR_CLOUD_TLS)
	{
		sec_tag_t tags[] = {CONFIG_ZPAIR_CLOUD_CA_TAG};
		int verify = TLS_PEER_VERIFY_REQUIRED;

		if (zsock_setsockopt(sock, SOL_TLS, TLS_SEC_TAG_LIST, tags, sizeof(tags)) < 0 ||
		    zsock_setsockopt(sock, SOL_TLS, TLS_HOSTNAME, hostz, strlen(hostz) + 1) < 0 ||
		    zsock_setsockopt(sock, SOL_TLS, TLS_PEER_VERIFY, &verify, sizeof(verify)) < 0) {
			rc = -errno;
			LOG_ERR("cloud: TLS setup failed (%d)", rc);
			goto out;
		}
	}
#endif
	if (zsock_connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
#if defined(CONFIG_ZPAIR_CLOUD_TLS)
		if (rc == -ECONNABORTED) {
			/* The handshake failed: tell a refused certificate from the rest. */
			uint32_t flags = 0;
			socklen_t flen = sizeof(flags);

			if (zsock_getsockopt(sock, SOL_TLS, TLS_CERT_VERIFY_RESULT, &flags, &flen) ==
				    0 &&
			    flags != 0) {
				rc = -EACCES;
			}
		}
#endif
		LOG_WRN("cloud: connect to %s:%u failed (%d)", hostz, port, rc);
		goto out;
	}

	n = snprintf(http_buf, sizeof(http_buf),
		     "POST %.*s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Content-Type: application/cbor\r\n"
		     "Accept: application/cbor\r\n"
		     "Content-Length: %u\r\n"
		     "Connection: close\r\n"
		     "\r\n",
		     (int)path_len, path, hostz, (unsigned int)body_len);
	if (n < 0 || (size_t)n >= sizeof(http_buf)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = send_all(sock, http_buf, (size_t)n);
	if (rc == 0 && body_len > 0) {
		rc = send_all(sock, body, body_len);
	}
	if (rc != 0) {
		LOG_WRN("cloud: send failed (%d)", rc);
		goto out;
	}

	/* Read until the server closes (Connection: close), keeping one byte for a NUL. */
	for (;;) {
		ssize_t r;

		if (got >= sizeof(http_buf) - 1) {
			rc = -EMSGSIZE;
			goto out;
		}
		r = zsock_recv(sock, http_buf + got, sizeof(http_buf) - 1 - got, 0);
		if (r < 0) {
			rc = -errno;
			if (rc == -EAGAIN) {
				rc = -ETIMEDOUT;
			}
			LOG_WRN("cloud: receive failed (%d)", rc);
			goto out;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	rc = parse_response(got, resp, cap, resp_len, status);
	if (rc == 0) {
		LOG_DBG("cloud: HTTP %u (%u bytes)", *status, (unsigned int)*resp_len);
	} else {
		LOG_WRN("cloud: bad response (%d)", rc);
	}
out:
	zsock_close(sock);
	/* The buffer held the sealed secret of the response. */
	memset(http_buf, 0, sizeof(http_buf));
	return rc;
}
