/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * BLE mode: zpair/shim.h's zpair_ble_* over the GATT backend of zpair/shim_backends.h
 * (shim/backends/ble.c). See shim.h ("BLE backend") for the inputs it posts.
 *
 * Receive: the backend's callback runs in the Bluetooth host's RX thread and must not block, so
 * each written fragment is copied into one of CONFIG_ZPAIR_BLE_RX_BUFFERS buffers, posted as a
 * ZPAIR_IN_PACKET input and released by the zpair thread (zpair_input_release gives the
 * buffer's semaphore back: a buffer is free while its semaphore is available).
 *
 * Send: one notification in flight (the backend's rule). zpair_ble_notify() appends the
 * fragment to a byte queue (u16 length + bytes) and submits tx_work; tx_work, on the system
 * work queue and therefore never concurrent with itself, takes the next fragment and hands it
 * to zpair_ble_gatt_notify(). ZPAIR_BLE_EVT_SENT clears the in-flight flag and submits tx_work
 * again; -EAGAIN (host out of buffers) retries after TX_RETRY_MS. tx_lock is never held across
 * a backend call (the backend calls us back with its own lock held).
 *
 * Disconnect: the core refuses an app with an alert and then disconnects it; so that the alert
 * reaches the app, zpair_ble_disconnect() waits for the queue to drain (at most CLOSE_WAIT_MS).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include <zpair/shim_backends.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define ATT_MTU_MIN   23
#define ATT_OVERHEAD  3
#define TX_RETRY_MS   20
#define CLOSE_WAIT_MS 2000
/* The largest fragment sent: MTU 517 - 3. */
#define TX_FRAG_MAX   514

/* ------------------------------------------------------------------------------------------ */
/* Receive buffers                                                                             */
/* ------------------------------------------------------------------------------------------ */

struct rx_buf {
	struct k_sem free; /* available = the buffer is free */
	uint8_t data[CONFIG_ZPAIR_BLE_RX_FRAGMENT_MAX];
};

static struct rx_buf rx_bufs[CONFIG_ZPAIR_BLE_RX_BUFFERS];

/* ------------------------------------------------------------------------------------------ */
/* Notification queue                                                                          */
/* ------------------------------------------------------------------------------------------ */

static struct k_spinlock tx_lock;
static struct {
	/* The connected app (0: none). */
	uint32_t conn;
	/* Ring of [len_lo len_hi bytes...] records. */
	uint8_t ring[CONFIG_ZPAIR_BLE_TX_QUEUE_SIZE];
	size_t head;
	size_t used;
	/* The fragment being sent (taken from the ring), 0 = none. */
	uint8_t cur[TX_FRAG_MAX];
	size_t cur_len;
	bool in_flight;
	/* zpair_ble_disconnect() waits for the queue to drain. */
	bool close_pending;
} tx;

static bool started;

static void tx_work_fn(struct k_work *work);
static void tx_retry_fn(struct k_work *work);
static void close_fn(struct k_work *work);
static K_WORK_DEFINE(tx_work, tx_work_fn);
static K_WORK_DELAYABLE_DEFINE(tx_retry, tx_retry_fn);
static K_WORK_DELAYABLE_DEFINE(close_work, close_fn);

/* tx_lock held. */
static void ring_put(const uint8_t *src, size_t len)
{
	size_t size = sizeof(tx.ring);
	size_t tail = (tx.head + tx.used) % size;

	for (size_t i = 0; i < len; i++) {
		tx.ring[(tail + i) % size] = src[i];
	}
	tx.used += len;
}

/* tx_lock held. */
static void ring_get(uint8_t *dst, size_t len)
{
	size_t size = sizeof(tx.ring);

	for (size_t i = 0; i < len; i++) {
		dst[i] = tx.ring[(tx.head + i) % size];
	}
	tx.head = (tx.head + len) % size;
	tx.used -= len;
}

/* tx_lock held. */
static void tx_flush(void)
{
	tx.head = 0;
	tx.used = 0;
	tx.cur_len = 0;
	tx.in_flight = false;
	tx.close_pending = false;
}

/* Nothing queued or in flight. tx_lock held. */
static bool tx_idle(void)
{
	return !tx.in_flight && tx.cur_len == 0 && tx.used == 0;
}

static void tx_work_fn(struct k_work *work)
{
	k_spinlock_key_t key;
	uint32_t conn;
	int rc;

	ARG_UNUSED(work);
	key = k_spin_lock(&tx_lock);
	if (tx.close_pending && tx.conn != 0 && tx_idle()) {
		/* Everything went out: the disconnect zpair_ble_disconnect() deferred. */
		conn = tx.conn;
		tx.close_pending = false;
		k_spin_unlock(&tx_lock, key);
		k_work_cancel_delayable(&close_work);
		(void)zpair_ble_gatt_disconnect(conn);
		return;
	}
	if (tx.in_flight || tx.conn == 0 || (tx.cur_len == 0 && tx.used == 0)) {
		k_spin_unlock(&tx_lock, key);
		return;
	}
	if (tx.cur_len == 0) {
		uint8_t l[2];

		ring_get(l, 2);
		tx.cur_len = (size_t)l[0] | ((size_t)l[1] << 8);
		ring_get(tx.cur, tx.cur_len);
	}
	tx.in_flight = true;
	conn = tx.conn;
	k_spin_unlock(&tx_lock, key);

	/* tx.cur is not touched by anyone else while in_flight is set and this work runs. */
	rc = zpair_ble_gatt_notify(conn, tx.cur, tx.cur_len);

	key = k_spin_lock(&tx_lock);
	if (rc == 0) {
		/* Sent: in_flight is cleared by ZPAIR_BLE_EVT_SENT (perhaps already). */
		tx.cur_len = 0;
	} else if (rc == -EAGAIN) {
		tx.in_flight = false;
		k_work_reschedule(&tx_retry, K_MSEC(TX_RETRY_MS));
	} else {
		bool closing = tx.close_pending;

		LOG_WRN("ble: notification failed (%d): %u bytes queued dropped", rc,
			(unsigned int)(tx.used + tx.cur_len));
		tx_flush();
		tx.close_pending = closing;
		if (closing) {
			k_work_submit(&tx_work);
		}
	}
	k_spin_unlock(&tx_lock, key);
}

static void tx_retry_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	k_work_submit(&tx_work);
}

/* The queue did not drain in time (the app stopped reading): disconnect anyway. */
static void close_fn(struct k_work *work)
{
	k_spinlock_key_t key;
	uint32_t conn = 0;

	ARG_UNUSED(work);
	key = k_spin_lock(&tx_lock);
	if (tx.close_pending) {
		tx.close_pending = false;
		conn = tx.conn;
	}
	k_spin_unlock(&tx_lock, key);
	if (conn != 0) {
		(void)zpair_ble_gatt_disconnect(conn);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Backend events                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void post(uint8_t kind, uint32_t conn, int32_t arg)
{
	struct zpair_input in = {
		.kind = kind,
		.mode = ZPAIR_MODE_BLE,
		.conn = conn,
		.arg = arg,
	};

	if (zpair_input_post(&in, K_NO_WAIT) != 0) {
		LOG_ERR("ble: input %u of conn %u lost", kind, conn);
	}
}

static void on_write(const struct zpair_ble_event *evt)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_PACKET,
		.mode = ZPAIR_MODE_BLE,
		.conn = evt->conn,
		.arg = evt->mtu,
		.len = evt->len,
	};

	if (evt->len > CONFIG_ZPAIR_BLE_RX_FRAGMENT_MAX) {
		LOG_WRN("ble: %u-byte write dropped (CONFIG_ZPAIR_BLE_RX_FRAGMENT_MAX)", evt->len);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(rx_bufs); i++) {
		struct rx_buf *b = &rx_bufs[i];

		if (k_sem_take(&b->free, K_NO_WAIT) != 0) {
			continue;
		}
		memcpy(b->data, evt->data, evt->len);
		in.data = b->data;
		in.token = &b->free;
		if (zpair_input_post(&in, K_NO_WAIT) != 0) {
			k_sem_give(&b->free);
			LOG_WRN("ble: fragment dropped (input queue full)");
		}
		return;
	}
	LOG_WRN("ble: fragment dropped (all %d write buffers in use)", CONFIG_ZPAIR_BLE_RX_BUFFERS);
}

/* The Bluetooth host's threads, one event at a time. */
static void ble_event(const struct zpair_ble_event *evt, void *user)
{
	k_spinlock_key_t key;

	ARG_UNUSED(user);
	switch (evt->kind) {
	case ZPAIR_BLE_EVT_CONNECTED:
		key = k_spin_lock(&tx_lock);
		tx_flush();
		tx.conn = evt->conn;
		k_spin_unlock(&tx_lock, key);
		post(ZPAIR_IN_CONNECTED, evt->conn, evt->mtu);
		break;
	case ZPAIR_BLE_EVT_DISCONNECTED:
		key = k_spin_lock(&tx_lock);
		if (tx.conn == evt->conn) {
			tx_flush();
			tx.conn = 0;
		}
		k_spin_unlock(&tx_lock, key);
		post(ZPAIR_IN_DISCONNECTED, evt->conn, evt->reason);
		break;
	case ZPAIR_BLE_EVT_WRITE:
		on_write(evt);
		break;
	case ZPAIR_BLE_EVT_SENT:
		key = k_spin_lock(&tx_lock);
		tx.in_flight = false;
		k_spin_unlock(&tx_lock, key);
		k_work_submit(&tx_work);
		break;
	case ZPAIR_BLE_EVT_SUBSCRIBED:
		if (evt->len != 0) {
			/* Anything queued before the app subscribed goes out now. */
			k_work_submit(&tx_work);
		}
		break;
	case ZPAIR_BLE_EVT_MTU:
		LOG_DBG("ble: conn %u MTU %u", evt->conn, evt->mtu);
		break;
	case ZPAIR_BLE_EVT_ADV_STOPPED:
		LOG_INF("ble: advertising stopped by its timeout");
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* zpair/shim.h                                                                                */
/* ------------------------------------------------------------------------------------------ */

int zpair_ble_start(uint16_t discriminator, uint8_t state, uint32_t product, uint8_t version)
{
	const struct zpair_ble_adv_params params = {
		.version = version,
		.state = state,
		.discriminator = discriminator,
		.product = product,
	};
	int rc;

	if (!started) {
		for (size_t i = 0; i < ARRAY_SIZE(rx_bufs); i++) {
			k_sem_init(&rx_bufs[i].free, 1, 1);
		}
		rc = zpair_ble_set_callback(ble_event, NULL);
		if (rc != 0) {
			return rc;
		}
		started = true;
	}
	return zpair_ble_start_adv(&params);
}

int zpair_ble_stop(void)
{
	return zpair_ble_stop_adv();
}

int zpair_ble_notify(uint32_t conn, const uint8_t *data, size_t len)
{
	k_spinlock_key_t key;
	int rc = 0;

	if (len == 0 || data == NULL) {
		return -EINVAL;
	}
	if (len > TX_FRAG_MAX || len > (size_t)zpair_ble_gatt_mtu(conn) - ATT_OVERHEAD) {
		return -EMSGSIZE;
	}
	key = k_spin_lock(&tx_lock);
	if (conn == 0 || conn != tx.conn) {
		rc = -ENOTCONN;
	} else if (sizeof(tx.ring) - tx.used < len + 2) {
		rc = -ENOBUFS;
	} else {
		uint8_t l[2] = {(uint8_t)len, (uint8_t)(len >> 8)};

		ring_put(l, 2);
		ring_put(data, len);
	}
	k_spin_unlock(&tx_lock, key);
	if (rc == 0) {
		k_work_submit(&tx_work);
	} else if (rc == -ENOBUFS) {
		LOG_WRN("ble: notification queue full (CONFIG_ZPAIR_BLE_TX_QUEUE_SIZE)");
	}
	return rc;
}

uint16_t zpair_ble_mtu(uint32_t conn)
{
	uint16_t mtu = zpair_ble_gatt_mtu(conn);

	return mtu < ATT_MTU_MIN ? ATT_MTU_MIN : mtu;
}

int zpair_ble_disconnect(uint32_t conn)
{
	k_spinlock_key_t key = k_spin_lock(&tx_lock);

	if (conn != 0 && conn == tx.conn && !tx_idle()) {
		/* Let the queued notifications (an alert, the last status) out first. */
		tx.close_pending = true;
		k_spin_unlock(&tx_lock, key);
		k_work_reschedule(&close_work, K_MSEC(CLOSE_WAIT_MS));
		return 0;
	}
	k_spin_unlock(&tx_lock, key);
	return zpair_ble_gatt_disconnect(conn);
}
