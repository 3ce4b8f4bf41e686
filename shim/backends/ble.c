/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Bluetooth LE backend: the zpair GATT service (one characteristic: write, write without
 * response, notify), connectable advertising with the service UUID and service data, MTU
 * tracking and flow-controlled notifications. One zpair connection at a time.
 * See zpair/shim_backends.h for the contract.
 *
 * Locking: ble_lock guards the state and serialises the event callback; it is never held
 * across a Bluetooth host call that may wait (advertising HCI commands, notifications), so a
 * host thread delivering a write can always take it. adv_lock serialises the advertising
 * operations themselves and is never taken by host callbacks.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/bluetooth/bluetooth.h>
#include <zephyr/bluetooth/conn.h>
#include <zephyr/bluetooth/gap.h>
#include <zephyr/bluetooth/gatt.h>
#include <zephyr/bluetooth/hci.h>
#include <zephyr/bluetooth/uuid.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/byteorder.h>

#include <zpair/shim_backends.h>

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

/* ZPAIR_BLE_SERVICE_UUID_STR / ZPAIR_BLE_CHAR_UUID_STR */
#define ZPAIR_SVC_UUID_VAL BT_UUID_128_ENCODE(0xb0220001, 0x2931, 0x4b95, 0x88c2, 0x3033d312cc41)
#define ZPAIR_CHR_UUID_VAL BT_UUID_128_ENCODE(0xb0220002, 0x2931, 0x4b95, 0x88c2, 0x3033d312cc41)

#define ATT_MTU_MIN  23
#define ATT_OVERHEAD 3

/* Interval units of 0.625 ms; fast advertising with 10 % of spread. */
#define ADV_INT_MIN BT_GAP_MS_TO_ADV_INTERVAL(CONFIG_ZPAIR_BLE_ADV_FAST_MS)
/* Legacy advertising intervals are at most 0x4000 (10.24 s). */
#define ADV_INT_MAX MIN(ADV_INT_MIN + ADV_INT_MIN / 10 + 1, 0x4000)

static const struct bt_uuid_128 svc_uuid = BT_UUID_INIT_128(ZPAIR_SVC_UUID_VAL);
static const struct bt_uuid_128 chr_uuid = BT_UUID_INIT_128(ZPAIR_CHR_UUID_VAL);

static ssize_t on_write(struct bt_conn *conn, const struct bt_gatt_attr *attr, const void *buf,
			uint16_t len, uint16_t offset, uint8_t flags);
static void on_ccc_changed(const struct bt_gatt_attr *attr, uint16_t value);

/* attrs[0] service, [1] characteristic declaration, [2] value, [3] CCC */
BT_GATT_SERVICE_DEFINE(zpair_gatt_svc,
	BT_GATT_PRIMARY_SERVICE(&svc_uuid),
	BT_GATT_CHARACTERISTIC(&chr_uuid.uuid,
			       BT_GATT_CHRC_WRITE | BT_GATT_CHRC_WRITE_WITHOUT_RESP |
				       BT_GATT_CHRC_NOTIFY,
			       BT_GATT_PERM_WRITE, NULL, on_write, NULL),
	BT_GATT_CCC(on_ccc_changed, BT_GATT_PERM_READ | BT_GATT_PERM_WRITE),
);

#define CHR_VALUE_ATTR (&zpair_gatt_svc.attrs[2])

static K_MUTEX_DEFINE(ble_lock);
static K_MUTEX_DEFINE(adv_lock);

static struct {
	bool inited;
	zpair_ble_cb_t cb;
	void *user;

	/* The zpair connection (a reference is held), its id and state. */
	struct bt_conn *conn;
	uint32_t conn_id;
	uint32_t next_id;
	bool tx_busy;
	bool subscribed;

	/* Advertising: wanted by the caller, and running in the controller. */
	bool adv_wanted;
	bool adv_on;
	uint8_t svc_data[16 + ZPAIR_BLE_SVC_DATA_LEN];
} b;

#if defined(CONFIG_BT_GATT_CLIENT)
static struct bt_gatt_exchange_params mtu_xchg;
#endif

static const uint8_t ad_flags[] = {BT_LE_AD_GENERAL | BT_LE_AD_NO_BREDR};
static const uint8_t ad_uuid[] = {ZPAIR_SVC_UUID_VAL};

static const struct bt_data ad[] = {
	BT_DATA(BT_DATA_FLAGS, ad_flags, sizeof(ad_flags)),
	BT_DATA(BT_DATA_UUID128_ALL, ad_uuid, sizeof(ad_uuid)),
};

/* Scan response: service data; filled from b.svc_data under adv_lock. */
static struct bt_data sd[] = {
	BT_DATA(BT_DATA_SVC_DATA128, b.svc_data, sizeof(b.svc_data)),
};

static void adv_work_fn(struct k_work *work);
static void adv_timeout_fn(struct k_work *work);
static K_WORK_DEFINE(adv_work, adv_work_fn);
static K_WORK_DELAYABLE_DEFINE(adv_timeout, adv_timeout_fn);

static void emit(const struct zpair_ble_event *evt)
{
	if (b.cb != NULL) {
		b.cb(evt, b.user);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* GATT                                                                                        */
/* ------------------------------------------------------------------------------------------ */

static ssize_t on_write(struct bt_conn *conn, const struct bt_gatt_attr *attr, const void *buf,
			uint16_t len, uint16_t offset, uint8_t flags)
{
	ssize_t ret = len;

	ARG_UNUSED(attr);
	if (flags & BT_GATT_WRITE_FLAG_PREPARE) {
		/* No long writes: a fragment always fits one write (MTU - 3). */
		return BT_GATT_ERR(BT_ATT_ERR_NOT_SUPPORTED);
	}
	if (offset != 0) {
		return BT_GATT_ERR(BT_ATT_ERR_INVALID_OFFSET);
	}

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (conn != b.conn || b.conn == NULL) {
		/* Another central (the application's own connections): not zpair's session. */
		ret = BT_GATT_ERR(BT_ATT_ERR_WRITE_NOT_PERMITTED);
	} else {
		struct zpair_ble_event evt = {
			.kind = ZPAIR_BLE_EVT_WRITE,
			.conn = b.conn_id,
			.mtu = bt_gatt_get_mtu(conn),
			.data = buf,
			.len = len,
		};

		emit(&evt);
	}
	k_mutex_unlock(&ble_lock);
	return ret;
}

static void on_ccc_changed(const struct bt_gatt_attr *attr, uint16_t value)
{
	ARG_UNUSED(attr);

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (b.conn != NULL) {
		struct zpair_ble_event evt = {
			.kind = ZPAIR_BLE_EVT_SUBSCRIBED,
			.conn = b.conn_id,
			.len = (value & BT_GATT_CCC_NOTIFY) ? 1 : 0,
		};

		b.subscribed = evt.len != 0;
		LOG_DBG("ble: notifications %s", b.subscribed ? "on" : "off");
		emit(&evt);
	}
	k_mutex_unlock(&ble_lock);
}

static void on_mtu_updated(struct bt_conn *conn, uint16_t tx, uint16_t rx)
{
	ARG_UNUSED(tx);
	ARG_UNUSED(rx);

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (conn == b.conn && b.conn != NULL) {
		struct zpair_ble_event evt = {
			.kind = ZPAIR_BLE_EVT_MTU,
			.conn = b.conn_id,
			.mtu = bt_gatt_get_mtu(conn),
		};

		LOG_INF("ble: ATT MTU %u", evt.mtu);
		emit(&evt);
	}
	k_mutex_unlock(&ble_lock);
}

static struct bt_gatt_cb gatt_cb = {
	.att_mtu_updated = on_mtu_updated,
};

#if defined(CONFIG_BT_GATT_CLIENT)
static void on_mtu_exchanged(struct bt_conn *conn, uint8_t err,
			     struct bt_gatt_exchange_params *params)
{
	ARG_UNUSED(params);
	if (err != 0) {
		LOG_DBG("ble: MTU exchange failed (%u)", err);
	}
	/* A new MTU is reported through att_mtu_updated. */
	ARG_UNUSED(conn);
}
#endif

static void notify_done(struct bt_conn *conn, void *user_data)
{
	uint32_t id = (uint32_t)(uintptr_t)user_data;

	ARG_UNUSED(conn);

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (b.conn != NULL && id == b.conn_id && b.tx_busy) {
		struct zpair_ble_event evt = {.kind = ZPAIR_BLE_EVT_SENT, .conn = id};

		b.tx_busy = false;
		emit(&evt);
	}
	k_mutex_unlock(&ble_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void on_connected(struct bt_conn *conn, uint8_t err)
{
	struct bt_conn_info info;

	if (bt_conn_get_info(conn, &info) != 0 || info.role != BT_CONN_ROLE_PERIPHERAL) {
		return;
	}
	if (err != 0) {
		/* A failed connection ended the connectable advertisement: resume in recycled. */
		k_mutex_lock(&ble_lock, K_FOREVER);
		b.adv_on = false;
		k_mutex_unlock(&ble_lock);
		return;
	}

	k_mutex_lock(&ble_lock, K_FOREVER);
	/* The connectable advertisement stops when a central connects. */
	if (b.adv_on && b.conn == NULL) {
		struct zpair_ble_event evt = {.kind = ZPAIR_BLE_EVT_CONNECTED};

		b.adv_on = false;
		b.conn = bt_conn_ref(conn);
		b.next_id++;
		if (b.next_id == 0) {
			b.next_id = 1;
		}
		b.conn_id = b.next_id;
		b.tx_busy = false;
		b.subscribed = false;
		evt.conn = b.conn_id;
		evt.mtu = bt_gatt_get_mtu(conn);
		LOG_INF("ble: app connected (conn %u, MTU %u)", evt.conn, evt.mtu);
		emit(&evt);
#if defined(CONFIG_BT_GATT_CLIENT)
		/* Phones usually ask themselves; asking too does no harm (-EALREADY). */
		mtu_xchg.func = on_mtu_exchanged;
		(void)bt_gatt_exchange_mtu(conn, &mtu_xchg);
#endif
	}
	k_mutex_unlock(&ble_lock);
}

static void on_disconnected(struct bt_conn *conn, uint8_t reason)
{
	k_mutex_lock(&ble_lock, K_FOREVER);
	if (conn == b.conn && b.conn != NULL) {
		struct zpair_ble_event evt = {
			.kind = ZPAIR_BLE_EVT_DISCONNECTED,
			.conn = b.conn_id,
			.reason = reason,
		};

		bt_conn_unref(b.conn);
		b.conn = NULL;
		b.tx_busy = false;
		b.subscribed = false;
		LOG_INF("ble: app disconnected (conn %u, reason 0x%02x)", evt.conn, reason);
		emit(&evt);
	}
	k_mutex_unlock(&ble_lock);
}

static void on_recycled(void)
{
	bool resume;

	/* A connection object is free again: advertising can resume. */
	k_mutex_lock(&ble_lock, K_FOREVER);
	resume = b.adv_wanted && !b.adv_on && b.conn == NULL;
	k_mutex_unlock(&ble_lock);
	if (resume) {
		k_work_submit(&adv_work);
	}
}

BT_CONN_CB_DEFINE(zpair_conn_cb) = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.recycled = on_recycled,
};

/* ------------------------------------------------------------------------------------------ */
/* Advertising                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Brings the controller in line with what is wanted. adv_lock held, ble_lock not held. */
static int adv_apply(void)
{
	const struct bt_le_adv_param param =
		BT_LE_ADV_PARAM_INIT(BT_LE_ADV_OPT_CONN, ADV_INT_MIN, ADV_INT_MAX, NULL);
	bool wanted;
	bool want;
	bool on;
	int ret = 0;

	k_mutex_lock(&ble_lock, K_FOREVER);
	wanted = b.adv_wanted;
	want = wanted && b.conn == NULL;
	on = b.adv_on;
	if (want && !on) {
		/* Set first: a central may connect before bt_le_adv_start() returns. */
		b.adv_on = true;
	}
	k_mutex_unlock(&ble_lock);

	if (want && !on) {
		ret = bt_le_adv_start(&param, ad, ARRAY_SIZE(ad), sd, ARRAY_SIZE(sd));
		if (ret == -EALREADY) {
			/* Our view was stale (a failed connection): it still runs. */
			ret = bt_le_adv_update_data(ad, ARRAY_SIZE(ad), sd, ARRAY_SIZE(sd));
		}
		if (ret != 0) {
			k_mutex_lock(&ble_lock, K_FOREVER);
			b.adv_on = false;
			k_mutex_unlock(&ble_lock);
			if (ret == -ENOMEM) {
				/* No free connection object yet: recycled() retries. */
				LOG_DBG("ble: advertising waits for a free connection");
				ret = 0;
			} else {
				LOG_ERR("ble: advertising failed (%d)", ret);
			}
		} else {
			LOG_INF("ble: advertising every %d ms", CONFIG_ZPAIR_BLE_ADV_FAST_MS);
		}
	} else if (want && on) {
		ret = bt_le_adv_update_data(ad, ARRAY_SIZE(ad), sd, ARRAY_SIZE(sd));
		if (ret != 0) {
			LOG_ERR("ble: advertising update failed (%d)", ret);
		}
	} else if (!wanted && on) {
		ret = bt_le_adv_stop();
		k_mutex_lock(&ble_lock, K_FOREVER);
		b.adv_on = false;
		k_mutex_unlock(&ble_lock);
		LOG_INF("ble: advertising stopped");
	}
	return ret;
}

static void adv_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	k_mutex_lock(&adv_lock, K_FOREVER);
	(void)adv_apply();
	k_mutex_unlock(&adv_lock);
}

static void adv_timeout_fn(struct k_work *work)
{
	bool was_wanted;

	ARG_UNUSED(work);
	k_mutex_lock(&adv_lock, K_FOREVER);
	k_mutex_lock(&ble_lock, K_FOREVER);
	was_wanted = b.adv_wanted;
	b.adv_wanted = false;
	k_mutex_unlock(&ble_lock);
	(void)adv_apply();
	if (was_wanted) {
		struct zpair_ble_event evt = {.kind = ZPAIR_BLE_EVT_ADV_STOPPED};

		LOG_INF("ble: advertising timed out");
		k_mutex_lock(&ble_lock, K_FOREVER);
		emit(&evt);
		k_mutex_unlock(&ble_lock);
	}
	k_mutex_unlock(&adv_lock);
}

static void ensure_init(void)
{
	k_mutex_lock(&ble_lock, K_FOREVER);
	if (!b.inited) {
		bt_gatt_cb_register(&gatt_cb);
		b.inited = true;
	}
	k_mutex_unlock(&ble_lock);
}

int zpair_ble_set_callback(zpair_ble_cb_t cb, void *user)
{
	ensure_init();
	k_mutex_lock(&ble_lock, K_FOREVER);
	b.cb = cb;
	b.user = user;
	k_mutex_unlock(&ble_lock);
	return 0;
}

int zpair_ble_start_adv(const struct zpair_ble_adv_params *params)
{
	uint8_t *d;
	bool start_timer;
	int ret;

	if (params == NULL) {
		return -EINVAL;
	}
	ensure_init();

	if (!bt_is_ready()) {
		ret = bt_enable(NULL);
		if (ret != 0 && ret != -EALREADY) {
			LOG_ERR("ble: bt_enable failed (%d)", ret);
			return ret;
		}
	}

	k_mutex_lock(&adv_lock, K_FOREVER);

	/* Service data: UUID, then version | discriminator (LE, 12 bits) | state | product (LE). */
	d = b.svc_data;
	memcpy(d, ad_uuid, 16);
	d[16] = params->version;
	sys_put_le16(params->discriminator & 0x0fff, &d[17]);
	d[19] = params->state;
	sys_put_le32(params->product, &d[20]);

	k_mutex_lock(&ble_lock, K_FOREVER);
	start_timer = !b.adv_wanted;
	b.adv_wanted = true;
	k_mutex_unlock(&ble_lock);

	ret = adv_apply();
	if (ret != 0) {
		k_mutex_lock(&ble_lock, K_FOREVER);
		b.adv_wanted = false;
		k_mutex_unlock(&ble_lock);
	} else if (start_timer && CONFIG_ZPAIR_BLE_ADV_TIMEOUT_S > 0) {
		k_work_reschedule(&adv_timeout, K_SECONDS(CONFIG_ZPAIR_BLE_ADV_TIMEOUT_S));
	}
	LOG_DBG("ble: advertise discriminator %u state %u", params->discriminator & 0x0fff,
		params->state);
	k_mutex_unlock(&adv_lock);
	return ret;
}

int zpair_ble_stop_adv(void)
{
	int ret;

	k_work_cancel_delayable(&adv_timeout);
	k_mutex_lock(&adv_lock, K_FOREVER);
	k_mutex_lock(&ble_lock, K_FOREVER);
	b.adv_wanted = false;
	k_mutex_unlock(&ble_lock);
	ret = adv_apply();
	k_mutex_unlock(&adv_lock);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Data                                                                                        */
/* ------------------------------------------------------------------------------------------ */

int zpair_ble_gatt_notify(uint32_t conn_id, const uint8_t *data, size_t len)
{
	struct bt_gatt_notify_params np = {
		.attr = CHR_VALUE_ATTR,
		.data = data,
		.func = notify_done,
		.user_data = (void *)(uintptr_t)conn_id,
	};
	struct bt_conn *conn = NULL;
	int ret = 0;

	if (len > 0 && data == NULL) {
		return -EINVAL;
	}

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (b.conn == NULL || conn_id != b.conn_id || conn_id == 0) {
		ret = -ENOTCONN;
	} else if (!bt_gatt_is_subscribed(b.conn, CHR_VALUE_ATTR, BT_GATT_CCC_NOTIFY)) {
		ret = -EACCES;
	} else if (len > (size_t)(bt_gatt_get_mtu(b.conn) - ATT_OVERHEAD)) {
		ret = -EMSGSIZE;
	} else if (b.tx_busy) {
		ret = -EAGAIN;
	} else {
		b.tx_busy = true;
		conn = bt_conn_ref(b.conn);
	}
	k_mutex_unlock(&ble_lock);
	if (conn == NULL) {
		return ret;
	}

	/* Without ble_lock: the host may wait for a buffer here. */
	np.len = (uint16_t)len;
	ret = bt_gatt_notify_cb(conn, &np);
	bt_conn_unref(conn);
	if (ret != 0) {
		k_mutex_lock(&ble_lock, K_FOREVER);
		if (b.conn_id == conn_id) {
			b.tx_busy = false;
		}
		k_mutex_unlock(&ble_lock);
		if (ret == -ENOMEM || ret == -ENOBUFS) {
			ret = -EAGAIN;
		} else if (ret != -EAGAIN) {
			LOG_WRN("ble: notify failed (%d)", ret);
		}
	}
	return ret;
}

uint16_t zpair_ble_gatt_mtu(uint32_t conn_id)
{
	uint16_t mtu = ATT_MTU_MIN;

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (b.conn != NULL && conn_id == b.conn_id) {
		mtu = MAX(bt_gatt_get_mtu(b.conn), ATT_MTU_MIN);
	}
	k_mutex_unlock(&ble_lock);
	return mtu;
}

int zpair_ble_gatt_disconnect(uint32_t conn_id)
{
	struct bt_conn *conn = NULL;
	int ret;

	k_mutex_lock(&ble_lock, K_FOREVER);
	if (b.conn != NULL && conn_id == b.conn_id && conn_id != 0) {
		conn = bt_conn_ref(b.conn);
	}
	k_mutex_unlock(&ble_lock);
	if (conn == NULL) {
		return -ENOTCONN;
	}
	ret = bt_conn_disconnect(conn, BT_HCI_ERR_REMOTE_USER_TERM_CONN);
	bt_conn_unref(conn);
	if (ret == -ENOTCONN) {
		/* Already going: DISCONNECTED follows anyway. */
		ret = 0;
	}
	return ret;
}
