/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Wired backend: one UDP socket on CONFIG_ZPAIR_WIRED_PORT for the sessions and the
 * announcements (docs/transports.md, "Wired").
 *
 * A receive thread hands every datagram to the zpair thread as a ZPAIR_IN_PACKET input and waits
 * until it is released (one buffer, no copy). Senders are mapped to connection ids in a small
 * table: UDP has no connections, so a new sender address is a new "connection" (arg = 1).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/socket.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

/* "ZP" 0x01 + the largest session packet (zpair_core::frame::DATAGRAM_MAX). */
#define WIRED_DATAGRAM_MAX (3 + 512)
#define WIRED_PEERS        4
#define WIRED_POLL_MS      200

#if CONFIG_ZPAIR_WIRED_ANNOUNCE_PORT == 0
#define WIRED_ANNOUNCE_PORT CONFIG_ZPAIR_WIRED_PORT
#else
#define WIRED_ANNOUNCE_PORT CONFIG_ZPAIR_WIRED_ANNOUNCE_PORT
#endif

struct wired_peer {
	struct sockaddr_in addr;
	uint32_t conn;
	uint32_t used; /* LRU stamp; 0 = free */
};

static int wired_sock = -1;
static uint16_t wired_bound_port;
static atomic_t wired_running;
static struct wired_peer peers[WIRED_PEERS];
static uint32_t next_conn = 1;
static uint32_t lru_clock;
K_MUTEX_DEFINE(peers_lock);
K_SEM_DEFINE(rx_released, 0, 1);
static uint8_t rx_buf[WIRED_DATAGRAM_MAX];

K_THREAD_STACK_DEFINE(wired_rx_stack, CONFIG_ZPAIR_WIRED_RX_STACK_SIZE);
static struct k_thread wired_rx_thread;
static bool wired_rx_created;

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* The connection id of a sender, allocating one (evicting the least recently used). */
static uint32_t peer_conn(const struct sockaddr_in *from, bool *is_new)
{
	struct wired_peer *victim = &peers[0];
	uint32_t conn;

	k_mutex_lock(&peers_lock, K_FOREVER);
	lru_clock++;
	for (size_t i = 0; i < ARRAY_SIZE(peers); i++) {
		if (peers[i].used != 0 && same_addr(&peers[i].addr, from)) {
			peers[i].used = lru_clock;
			conn = peers[i].conn;
			k_mutex_unlock(&peers_lock);
			*is_new = false;
			return conn;
		}
		if (peers[i].used < victim->used) {
			victim = &peers[i];
		}
	}
	victim->addr = *from;
	victim->conn = next_conn++;
	if (next_conn == 0) {
		next_conn = 1;
	}
	victim->used = lru_clock;
	conn = victim->conn;
	k_mutex_unlock(&peers_lock);
	*is_new = true;
	return conn;
}

static void wired_rx(void *p1, void *p2, void *p3)
{
	ARG_UNUSED(p1);
	ARG_UNUSED(p2);
	ARG_UNUSED(p3);

	while (atomic_get(&wired_running)) {
		struct zsock_pollfd pfd = {.fd = wired_sock, .events = ZSOCK_POLLIN};
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		struct zpair_input in = {
			.kind = ZPAIR_IN_PACKET,
			.mode = ZPAIR_MODE_WIRED,
			.data = rx_buf,
			.token = &rx_released,
		};
		bool is_new;
		ssize_t n;
		int rc = zsock_poll(&pfd, 1, WIRED_POLL_MS);

		if (rc <= 0 || !(pfd.revents & ZSOCK_POLLIN)) {
			if (rc < 0) {
				LOG_WRN("wired: poll failed (%d)", errno);
				k_msleep(WIRED_POLL_MS);
			}
			continue;
		}
		n = zsock_recvfrom(wired_sock, rx_buf, sizeof(rx_buf), ZSOCK_MSG_DONTWAIT,
				   (struct sockaddr *)&from, &fromlen);
		if (n <= 0 || from.sin_family != AF_INET) {
			continue;
		}
		in.conn = peer_conn(&from, &is_new);
		in.arg = is_new ? 1 : 0;
		in.len = (uint16_t)n;
		if (zpair_input_post(&in, K_MSEC(100)) == 0) {
			/* The zpair thread owns rx_buf until it releases the input. */
			k_sem_take(&rx_released, K_FOREVER);
		}
	}
}

int zpair_wired_open(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(CONFIG_ZPAIR_WIRED_PORT),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1;
	int sock;

	if (wired_sock >= 0) {
		return 0;
	}
	sock = zsock_socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	if (sock < 0) {
		LOG_ERR("wired: socket failed (%d)", errno);
		return -errno;
	}
	(void)zsock_setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Needed by hosts to send to 255.255.255.255; not every stack knows it (ignored then). */
	(void)zsock_setsockopt(sock, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (zsock_bind(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		LOG_ERR("wired: bind to port %d failed (%d)", CONFIG_ZPAIR_WIRED_PORT, err);
		zsock_close(sock);
		return -err;
	}
	wired_sock = sock;
	wired_bound_port = CONFIG_ZPAIR_WIRED_PORT;
	memset(peers, 0, sizeof(peers));
	atomic_set(&wired_running, 1);
	k_sem_reset(&rx_released);
	k_thread_create(&wired_rx_thread, wired_rx_stack, K_THREAD_STACK_SIZEOF(wired_rx_stack),
			wired_rx, NULL, NULL, NULL, K_PRIO_PREEMPT(CONFIG_ZPAIR_THREAD_PRIORITY), 0,
			K_NO_WAIT);
	k_thread_name_set(&wired_rx_thread, "zpair_wired_rx");
	wired_rx_created = true;
	LOG_INF("wired: listening on UDP port %u", wired_bound_port);
	return 0;
}

int zpair_wired_close(void)
{
	if (wired_sock < 0) {
		return 0;
	}
	atomic_set(&wired_running, 0);
	if (wired_rx_created) {
		/* Wakes the thread if it still waits for a release the zpair thread will never
		 * give (its input was dropped); at most one poll interval later it sees the flag.
		 */
		k_sem_give(&rx_released);
		(void)k_thread_join(&wired_rx_thread, K_MSEC(5 * WIRED_POLL_MS));
		wired_rx_created = false;
	}
	zsock_close(wired_sock);
	wired_sock = -1;
	wired_bound_port = 0;
	LOG_INF("wired: closed");
	return 0;
}

uint16_t zpair_wired_port(void)
{
	return wired_bound_port;
}

static int send_to(const struct sockaddr_in *to, const uint8_t *datagram, size_t len)
{
	ssize_t n;

	if (wired_sock < 0) {
		return -ENOTCONN;
	}
	n = zsock_sendto(wired_sock, datagram, len, 0, (const struct sockaddr *)to, sizeof(*to));
	if (n < 0) {
		return -errno;
	}
	return 0;
}

int zpair_wired_announce(const uint8_t *datagram, size_t len)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(WIRED_ANNOUNCE_PORT),
	};
	int rc;

	if (zsock_inet_pton(AF_INET, CONFIG_ZPAIR_WIRED_ANNOUNCE_ADDR, &to.sin_addr) != 1) {
		return -EINVAL;
	}
	rc = send_to(&to, datagram, len);
	if (rc != 0) {
		LOG_DBG("wired: announce failed (%d)", rc);
	}
	return rc;
}

int zpair_wired_send(uint32_t conn, const uint8_t *datagram, size_t len)
{
	struct sockaddr_in to;
	bool found = false;

	k_mutex_lock(&peers_lock, K_FOREVER);
	for (size_t i = 0; i < ARRAY_SIZE(peers); i++) {
		if (peers[i].used != 0 && peers[i].conn == conn) {
			to = peers[i].addr;
			found = true;
			break;
		}
	}
	k_mutex_unlock(&peers_lock);
	if (!found) {
		return -ENOENT;
	}
	return send_to(&to, datagram, len);
}

void zpair_wired_forget(uint32_t conn)
{
	k_mutex_lock(&peers_lock, K_FOREVER);
	for (size_t i = 0; i < ARRAY_SIZE(peers); i++) {
		if (peers[i].used != 0 && peers[i].conn == conn) {
			peers[i].used = 0;
		}
	}
	k_mutex_unlock(&peers_lock);
}
