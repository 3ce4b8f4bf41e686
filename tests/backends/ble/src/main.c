/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Exercises the BLE backend's whole API: advertise, take the app's connection, echo each
 * written fragment back as a notification (respecting one notification in flight), and
 * resume advertising after the app leaves.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/printk.h>

#include <zpair/shim_backends.h>


struct echo {
	uint32_t conn;
	uint16_t len;
	uint8_t data[244];
};

K_MSGQ_DEFINE(echo_q, sizeof(struct echo), 4, 4);
static K_SEM_DEFINE(sent, 1, 1);

static void on_ble(const struct zpair_ble_event *evt, void *user)
{
	struct echo e;

	ARG_UNUSED(user);
	switch (evt->kind) {
	case ZPAIR_BLE_EVT_CONNECTED:
		printk("connected conn=%u mtu=%u\n", evt->conn, evt->mtu);
		break;
	case ZPAIR_BLE_EVT_DISCONNECTED:
		printk("disconnected conn=%u reason=0x%02x\n", evt->conn, evt->reason);
		k_sem_give(&sent);
		break;
	case ZPAIR_BLE_EVT_MTU:
		printk("mtu conn=%u mtu=%u\n", evt->conn, evt->mtu);
		break;
	case ZPAIR_BLE_EVT_SUBSCRIBED:
		printk("notifications %s\n", evt->len ? "on" : "off");
		break;
	case ZPAIR_BLE_EVT_WRITE:
		e.conn = evt->conn;
		e.len = MIN(evt->len, sizeof(e.data));
		memcpy(e.data, evt->data, e.len);
		(void)k_msgq_put(&echo_q, &e, K_NO_WAIT);
		break;
	case ZPAIR_BLE_EVT_SENT:
		k_sem_give(&sent);
		break;
	case ZPAIR_BLE_EVT_ADV_STOPPED:
		printk("advertising timed out\n");
		break;
	default:
		break;
	}
}

int main(void)
{
	const struct zpair_ble_adv_params adv = {
		.version = 1,
		.state = 1, /* window open */
		.discriminator = 0x677,
		.product = 0x5a50,
	};
	struct echo e;
	int ret;

	ret = zpair_ble_set_callback(on_ble, NULL);
	if (ret == 0) {
		ret = zpair_ble_start_adv(&adv);
	}
	printk("zpair BLE echo: %d (service %s)\n", ret, ZPAIR_BLE_SERVICE_UUID_STR);
	if (ret != 0) {
		return 0;
	}

	while (k_msgq_get(&echo_q, &e, K_FOREVER) == 0) {
		if (e.len > zpair_ble_gatt_mtu(e.conn) - 3) {
			(void)zpair_ble_gatt_disconnect(e.conn);
			continue;
		}
		do {
			(void)k_sem_take(&sent, K_SECONDS(5));
			ret = zpair_ble_gatt_notify(e.conn, e.data, e.len);
		} while (ret == -EAGAIN);
		if (ret != 0) {
			printk("notify: %d\n", ret);
			k_sem_give(&sent);
		}
	}
	(void)zpair_ble_stop_adv();
	return 0;
}
