/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The Wi-Fi station of the SoftAP and BLE modes (zpair/shim.h: zpair_net_connect / _status /
 * _disconnect for those modes, zpair_wifi_scan) on top of the Wi-Fi backend
 * (zpair/shim_backends.h, shim/backends/wifi.c).
 *
 * This file owns the backend's one event callback: station and scan events become zpair inputs
 * here, the access point's and TCP events go to shim/zpair_softap.c. Outcomes of a join are
 * ZPAIR_IN_NET inputs with the mode that asked: ZPAIR_NET_UP, or ZPAIR_NET_ERROR(code) with
 * the backend's precise error (wrong password, AP not found, association failed, DHCP
 * timeout), which is a PairError wire code the glue hands to the core unchanged.
 *
 * One radio: the station and the access point exclude each other, as on the nRF7002 and in the
 * host simulator (zpair-sim). Joining stops the access point (its app connections are reported
 * closed); opening the SoftAP window leaves the network (zpair_wifi_yield()).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include <zpair/shim_backends.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

/* Scan results waiting for the zpair thread: each slot's semaphore is "free" (given back by
 * zpair_input_release()).
 */
#define SCAN_SLOTS 8

struct scan_slot {
	struct k_sem free;
	struct zpair_scan_result res;
};

static struct scan_slot scan_slots[SCAN_SLOTS];
static bool wifi_registered;
/* The mode whose join is in progress or up (ZPAIR_MODE_SOFTAP / _BLE), 0xff: none. */
static atomic_t join_mode = ATOMIC_INIT(0xff);
static K_MUTEX_DEFINE(ready_lock);

static void post_net(int32_t arg)
{
	atomic_val_t mode = atomic_get(&join_mode);
	struct zpair_input in = {
		.kind = ZPAIR_IN_NET,
		.arg = arg,
	};

	if (mode == 0xff) {
		return; /* nobody asked */
	}
	in.mode = (uint8_t)mode;
	(void)zpair_input_post(&in, K_MSEC(100));
}

static void post_scan_result(const struct zpair_wifi_scan_entry *e)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_SCAN,
		.mode = ZPAIR_MODE_SOFTAP,
		.len = sizeof(struct zpair_scan_result),
	};

	if (e->ssid_len == 0) {
		return; /* hidden: nothing to show */
	}
	for (size_t i = 0; i < ARRAY_SIZE(scan_slots); i++) {
		struct scan_slot *s = &scan_slots[i];

		if (k_sem_take(&s->free, K_NO_WAIT) != 0) {
			continue;
		}
		memset(&s->res, 0, sizeof(s->res));
		memcpy(s->res.ssid, e->ssid, MIN(e->ssid_len, sizeof(s->res.ssid)));
		s->res.ssid_len = MIN(e->ssid_len, sizeof(s->res.ssid));
		s->res.security = e->security;
		s->res.channel = e->channel;
		s->res.rssi = e->rssi;
		memcpy(s->res.bssid, e->bssid, sizeof(s->res.bssid));
		in.data = (const uint8_t *)&s->res;
		in.token = &s->free;
		if (zpair_input_post(&in, K_NO_WAIT) != 0) {
			k_sem_give(&s->free);
		}
		return;
	}
	LOG_WRN("wifi: scan result dropped (all %d slots in use)", SCAN_SLOTS);
}

static void wifi_event(const struct zpair_wifi_event *evt, void *user)
{
	ARG_UNUSED(user);

	switch (evt->kind) {
	case ZPAIR_WIFI_EVT_SCAN_RESULT:
		post_scan_result(&evt->scan);
		break;
	case ZPAIR_WIFI_EVT_SCAN_DONE: {
		struct zpair_input in = {
			.kind = ZPAIR_IN_SCAN,
			.mode = ZPAIR_MODE_SOFTAP,
			.arg = evt->status < 0 ? evt->status : 0,
		};

		(void)zpair_input_post(&in, K_MSEC(100));
		break;
	}
	case ZPAIR_WIFI_EVT_ASSOCIATED:
		LOG_DBG("wifi: associated");
		break;
	case ZPAIR_WIFI_EVT_CONNECTED:
		post_net(ZPAIR_NET_UP);
		break;
	case ZPAIR_WIFI_EVT_CONNECT_FAILED:
		post_net(ZPAIR_NET_ERROR(evt->error));
		break;
	case ZPAIR_WIFI_EVT_DISCONNECTED:
		post_net(evt->error == ZPAIR_ERR_NONE ? ZPAIR_NET_DOWN
						      : ZPAIR_NET_ERROR(evt->error));
		break;
	default:
#if defined(ZPAIR_HAVE_SOFTAP)
		zpair_softap_on_event(evt);
#endif
		break;
	}
}

int zpair_wifi_ready(void)
{
	int rc = 0;

	k_mutex_lock(&ready_lock, K_FOREVER);
	if (!wifi_registered) {
		for (size_t i = 0; i < ARRAY_SIZE(scan_slots); i++) {
			k_sem_init(&scan_slots[i].free, 1, 1);
		}
		rc = zpair_wifi_set_callback(wifi_event, NULL);
		if (rc == 0) {
			wifi_registered = true;
		} else {
			LOG_ERR("wifi: backend unavailable (%d)", rc);
		}
	}
	k_mutex_unlock(&ready_lock);
	return rc;
}

void zpair_wifi_yield(void)
{
	uint32_t ip4;

	if (zpair_wifi_ready() != 0) {
		return;
	}
	if (zpair_wifi_sta_status(&ip4) == 0 || atomic_get(&join_mode) != 0xff) {
		LOG_INF("wifi: leaving the network (one radio: the access point needs it)");
	}
	atomic_set(&join_mode, 0xff);
	(void)zpair_wifi_sta_disconnect();
}

int zpair_wifi_connect(uint8_t mode, const struct zpair_wifi_params *wifi, uint32_t *ip4)
{
	struct zpair_wifi_connect_params p = {
		.ssid = wifi->ssid,
		.ssid_len = wifi->ssid_len,
		.security = wifi->security,
		.psk = wifi->psk,
		.psk_len = wifi->psk_len,
		.bssid = wifi->bssid,
		.channel = wifi->channel,
		.hidden = wifi->hidden,
	};
	int rc = zpair_wifi_ready();

	*ip4 = 0;
	if (rc != 0) {
		return rc;
	}
#if defined(ZPAIR_HAVE_SOFTAP)
	/* One radio: the access point goes down before the station joins. */
	zpair_softap_yield();
#endif
	/* A network joined before (or a failed attempt) is left first. */
	atomic_set(&join_mode, 0xff);
	(void)zpair_wifi_sta_disconnect();
	atomic_set(&join_mode, mode);
	rc = zpair_wifi_sta_connect(&p);
	if (rc != 0) {
		atomic_set(&join_mode, 0xff);
		LOG_WRN("wifi: join not started (%d)", rc);
		return rc;
	}
	return -EINPROGRESS;
}

int zpair_wifi_status(uint32_t *ip4)
{
	if (!wifi_registered) {
		return -ENETDOWN;
	}
	return zpair_wifi_sta_status(ip4);
}

int zpair_wifi_disconnect(void)
{
	if (!wifi_registered) {
		return 0;
	}
	atomic_set(&join_mode, 0xff);
	return zpair_wifi_sta_disconnect();
}

int zpair_wifi_scan(void)
{
	int rc = zpair_wifi_ready();

	if (rc != 0) {
		return rc;
	}
	return zpair_wifi_scan_start(NULL, 0);
}
