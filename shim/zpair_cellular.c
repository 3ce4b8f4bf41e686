/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Cellular mode: the modem as the network of ZPAIR_MODE_CELLULAR (zpair_net.c dispatches
 * zpair_net_connect / _status / _disconnect here) over the modem backend of
 * zpair/shim_backends.h (shim/backends/cellular.c), and the display of the setup payload.
 *
 * The backend's events become ZPAIR_IN_NET inputs (mode ZPAIR_MODE_CELLULAR): ATTACHED ->
 * arg ZPAIR_NET_UP; ATTACH_FAILED -> arg ZPAIR_NET_ERROR(its ZPAIR_ERR_*) (the modem keeps
 * trying, so ZPAIR_NET_UP may still follow); DETACHED with LINK_LOST -> arg
 * ZPAIR_NET_ERROR(ZPAIR_ERR_LINK_LOST). Without a precise code the arg is the errno
 * (-ENETUNREACH, -ENETDOWN). The same convention as the Wi-Fi station (zpair_wifi.c): the glue
 * turns ZPAIR_NET_ERROR() into the PairError with that wire code.
 */
#include <errno.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/printk.h>

#include <zpair/shim_backends.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

static atomic_t cell_attached;
static atomic_t cell_ip;
static atomic_t cell_registered;

static void post_net(int32_t arg, uint8_t error)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_NET,
		.mode = ZPAIR_MODE_CELLULAR,
		.arg = error != ZPAIR_ERR_NONE ? ZPAIR_NET_ERROR(error) : arg,
	};

	if (zpair_input_post(&in, K_NO_WAIT) != 0) {
		/* The glue also polls zpair_net_status() while it waits. */
		LOG_WRN("cellular: network input lost");
	}
}

/* The backend's contexts (net_mgmt thread, modem driver, system work queue). */
static void cell_event(const struct zpair_cellular_event *evt, void *user)
{
	ARG_UNUSED(user);
	switch (evt->kind) {
	case ZPAIR_CELL_EVT_ATTACHED:
		atomic_set(&cell_ip, (atomic_val_t)evt->ip4);
		atomic_set(&cell_attached, 1);
		post_net(ZPAIR_NET_UP, ZPAIR_ERR_NONE);
		break;
	case ZPAIR_CELL_EVT_ATTACH_FAILED:
		atomic_clear(&cell_attached);
		LOG_WRN("cellular: attach failed (error 0x%02x, status %d)", evt->error,
			evt->status);
		post_net(-ENETUNREACH, evt->error);
		break;
	case ZPAIR_CELL_EVT_DETACHED:
		atomic_clear(&cell_attached);
		atomic_clear(&cell_ip);
		if (evt->error != ZPAIR_ERR_NONE) {
			post_net(-ENETDOWN, evt->error);
		}
		break;
	case ZPAIR_CELL_EVT_REGISTRATION:
		LOG_DBG("cellular: registration status %d", evt->status);
		break;
	default:
		break;
	}
}

static int ensure_registered(void)
{
	int rc;

	if (atomic_get(&cell_registered)) {
		return 0;
	}
	rc = zpair_cellular_set_callback(cell_event, NULL);
	if (rc == 0) {
		atomic_set(&cell_registered, 1);
	}
	return rc;
}

int zpair_cellular_attach(uint32_t *ip4)
{
	int rc = ensure_registered();

	*ip4 = 0;
	if (rc != 0) {
		return rc;
	}
	rc = zpair_cellular_modem_attach();
	if (rc != 0 && rc != -EALREADY) {
		LOG_WRN("cellular: attach not started (%d)", rc);
		return rc;
	}
	/* ATTACHED may have come during the call (network already up). */
	if (atomic_get(&cell_attached)) {
		*ip4 = (uint32_t)atomic_get(&cell_ip);
		return 0;
	}
	return -EINPROGRESS;
}

int zpair_cellular_status(uint32_t *ip4)
{
	if (!atomic_get(&cell_attached)) {
		*ip4 = 0;
		return -ENETDOWN;
	}
	*ip4 = (uint32_t)atomic_get(&cell_ip);
	return 0;
}

int zpair_cellular_detach(void)
{
	atomic_clear(&cell_attached);
	atomic_clear(&cell_ip);
	return zpair_cellular_modem_detach();
}

int zpair_cellular_show_payload(const char *payload, size_t len)
{
	if (payload == NULL || len == 0) {
		return -EINVAL;
	}
	/* printk, not LOG_*: the payload carries the setup code (logs may be collected). */
	printk("zpair: scan this QR code to bind the device (setup payload %.*s)\n",
	       (int)MIN(len, (size_t)INT16_MAX), payload);
	return 0;
}
