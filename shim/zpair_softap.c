/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * SoftAP backend (zpair/shim.h: zpair_softap_*): the device's open access point and the
 * pairing TCP listener of the Wi-Fi backend (zpair/shim_backends.h: zpair_wifi_ap_*,
 * zpair_wifi_tcp_*), turned into zpair inputs with mode ZPAIR_MODE_SOFTAP:
 *
 *   TCP_ACCEPTED          -> ZPAIR_IN_CONNECTED    (conn = the backend's connection id)
 *   TCP_DATA              -> ZPAIR_IN_PACKET       (the raw stream bytes: the Rust glue
 *                                                   reassembles the 2-byte length framing)
 *   TCP_CLOSED            -> ZPAIR_IN_DISCONNECTED
 *   AP_STOPPED            -> ZPAIR_IN_DISCONNECTED for every connection still open (the AP
 *                            went down: zpair_softap_stop(), the station joining the router on
 *                            the one radio, or a driver failure)
 *
 * Received bytes wait in a small pool of buffers until the zpair thread releases them, so the
 * socket-service thread that delivers them never waits for the zpair thread for long. When no
 * buffer frees up in time the connection is closed rather than a byte lost (a stream cannot
 * skip bytes).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include <zpair/shim_backends.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define RX_SLOTS        4
#define RX_WAIT_MS      200
#define POST_TIMEOUT    K_MSEC(200)

struct rx_slot {
	struct k_sem free;
	uint8_t buf[ZPAIR_WIFI_TCP_CHUNK];
};

static struct rx_slot rx_slots[RX_SLOTS];
static bool rx_ready;
/* Open app connections (0 = free). */
static uint32_t conns[ZPAIR_WIFI_TCP_MAX_CONN];
static bool ap_running;
static K_MUTEX_DEFINE(softap_lock);

static void post_conn(uint8_t kind, uint32_t conn)
{
	struct zpair_input in = {
		.kind = kind,
		.mode = ZPAIR_MODE_SOFTAP,
		.conn = conn,
	};

	if (zpair_input_post(&in, POST_TIMEOUT) != 0) {
		LOG_ERR("softap: connection event %u of conn %u lost", kind, conn);
	}
}

static bool conn_add(uint32_t conn)
{
	bool added = false;

	k_mutex_lock(&softap_lock, K_FOREVER);
	for (size_t i = 0; i < ARRAY_SIZE(conns); i++) {
		if (conns[i] == 0) {
			conns[i] = conn;
			added = true;
			break;
		}
	}
	k_mutex_unlock(&softap_lock);
	return added;
}

static bool conn_remove(uint32_t conn)
{
	bool found = false;

	k_mutex_lock(&softap_lock, K_FOREVER);
	for (size_t i = 0; i < ARRAY_SIZE(conns); i++) {
		if (conn != 0 && conns[i] == conn) {
			conns[i] = 0;
			found = true;
		}
	}
	k_mutex_unlock(&softap_lock);
	return found;
}

static struct rx_slot *rx_slot_get(void)
{
	for (int waited = 0; waited <= RX_WAIT_MS; waited += 10) {
		for (size_t i = 0; i < ARRAY_SIZE(rx_slots); i++) {
			if (k_sem_take(&rx_slots[i].free, K_NO_WAIT) == 0) {
				return &rx_slots[i];
			}
		}
		k_msleep(10);
	}
	return NULL;
}

static void on_data(const struct zpair_wifi_event *evt)
{
	struct rx_slot *slot;
	struct zpair_input in = {
		.kind = ZPAIR_IN_PACKET,
		.mode = ZPAIR_MODE_SOFTAP,
		.conn = evt->conn,
	};

	if (evt->len == 0 || evt->len > ZPAIR_WIFI_TCP_CHUNK) {
		return;
	}
	slot = rx_slot_get();
	if (slot != NULL) {
		memcpy(slot->buf, evt->data, evt->len);
		in.data = slot->buf;
		in.len = evt->len;
		in.token = &slot->free;
		if (zpair_input_post(&in, POST_TIMEOUT) == 0) {
			return;
		}
		k_sem_give(&slot->free);
	}
	/* The bytes cannot be delivered: losing them would corrupt the stream. */
	LOG_WRN("softap: zpair thread busy, closing conn %u", evt->conn);
	if (conn_remove(evt->conn)) {
		(void)zpair_wifi_tcp_close(evt->conn);
		post_conn(ZPAIR_IN_DISCONNECTED, evt->conn);
	}
}

static void drop_all(void)
{
	uint32_t gone[ARRAY_SIZE(conns)];

	k_mutex_lock(&softap_lock, K_FOREVER);
	memcpy(gone, conns, sizeof(gone));
	memset(conns, 0, sizeof(conns));
	k_mutex_unlock(&softap_lock);
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		if (gone[i] != 0) {
			post_conn(ZPAIR_IN_DISCONNECTED, gone[i]);
		}
	}
}

void zpair_softap_on_event(const struct zpair_wifi_event *evt)
{
	switch (evt->kind) {
	case ZPAIR_WIFI_EVT_AP_STARTED:
		ap_running = true;
		LOG_INF("softap: access point %.*s up", evt->scan.ssid_len, evt->scan.ssid);
		break;
	case ZPAIR_WIFI_EVT_AP_STOPPED:
		ap_running = false;
		if (evt->error != ZPAIR_ERR_NONE) {
			LOG_ERR("softap: the driver stopped the access point (%d)", evt->status);
		}
		drop_all();
		break;
	case ZPAIR_WIFI_EVT_AP_STA_JOINED:
		LOG_INF("softap: a station joined");
		break;
	case ZPAIR_WIFI_EVT_AP_STA_LEFT:
		LOG_INF("softap: a station left");
		break;
	case ZPAIR_WIFI_EVT_TCP_ACCEPTED:
		if (!conn_add(evt->conn)) {
			(void)zpair_wifi_tcp_close(evt->conn);
			break;
		}
		post_conn(ZPAIR_IN_CONNECTED, evt->conn);
		break;
	case ZPAIR_WIFI_EVT_TCP_DATA:
		on_data(evt);
		break;
	case ZPAIR_WIFI_EVT_TCP_CLOSED:
		if (conn_remove(evt->conn)) {
			post_conn(ZPAIR_IN_DISCONNECTED, evt->conn);
		}
		break;
	default:
		break;
	}
}

/* The device id whose SoftAP SSID this is (zpair_wifi_ap_ssid(): prefix + 4 hex digits). */
static int ssid_device(const uint8_t *ssid, size_t len, uint64_t *device)
{
	const size_t plen = sizeof(CONFIG_ZPAIR_SOFTAP_SSID_PREFIX) - 1;
	uint64_t id = 0;

	if (ssid == NULL || len != plen + 4 || memcmp(ssid, CONFIG_ZPAIR_SOFTAP_SSID_PREFIX, plen)) {
		return -EINVAL;
	}
	for (size_t i = plen; i < len; i++) {
		uint8_t c = ssid[i];

		if (c >= '0' && c <= '9') {
			id = (id << 4) | (c - '0');
		} else if (c >= 'a' && c <= 'f') {
			id = (id << 4) | (c - 'a' + 10);
		} else {
			return -EINVAL;
		}
	}
	*device = id;
	return 0;
}

int zpair_softap_start(const uint8_t *ssid, size_t ssid_len)
{
	uint64_t device;
	int rc = ssid_device(ssid, ssid_len, &device);

	if (rc != 0) {
		LOG_ERR("softap: SSID is not %s + 4 hex digits", CONFIG_ZPAIR_SOFTAP_SSID_PREFIX);
		return rc;
	}
	if (!rx_ready) {
		for (size_t i = 0; i < ARRAY_SIZE(rx_slots); i++) {
			k_sem_init(&rx_slots[i].free, 1, 1);
		}
		rx_ready = true;
	}
	rc = zpair_wifi_ready();
	if (rc != 0) {
		return rc;
	}
	/* One radio: the station leaves its network while the access point runs. */
	zpair_wifi_yield();
	rc = zpair_wifi_ap_start(device);
	if (rc == -EALREADY) {
		rc = 0;
	}
	if (rc != 0) {
		LOG_ERR("softap: access point not started (%d)", rc);
	}
	return rc;
}

void zpair_softap_yield(void)
{
	if (ap_running) {
		LOG_INF("softap: access point down while the station joins (one radio)");
		(void)zpair_wifi_ap_stop();
	}
}

int zpair_softap_stop(void)
{
	if (zpair_wifi_ready() != 0) {
		return 0;
	}
	return zpair_wifi_ap_stop();
}

int zpair_softap_send(uint32_t conn, const uint8_t *data, size_t len)
{
	return zpair_wifi_tcp_send(conn, data, len);
}

int zpair_softap_close(uint32_t conn)
{
	(void)conn_remove(conn);
	return zpair_wifi_tcp_close(conn);
}
