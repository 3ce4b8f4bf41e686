/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Attaches through the zpair cellular backend and prints the outcome.
 */
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/net_ip.h>
#include <zephyr/sys/printk.h>

#include <zpair/shim_backends.h>


K_MSGQ_DEFINE(events, sizeof(struct zpair_cellular_event), 8, 4);

static void on_event(const struct zpair_cellular_event *evt, void *user)
{
	ARG_UNUSED(user);
	(void)k_msgq_put(&events, evt, K_NO_WAIT);
}

int main(void)
{
	struct zpair_cellular_event evt;
	struct zpair_cellular_info info;
	char ip[NET_IPV4_ADDR_LEN];
	int ret;

	(void)zpair_cellular_set_callback(on_event, NULL);
	ret = zpair_cellular_modem_attach();
	printk("attach: %d\n", ret);

	while (ret == 0 && k_msgq_get(&events, &evt, K_FOREVER) == 0) {
		switch (evt.kind) {
		case ZPAIR_CELL_EVT_ATTACHED:
			(void)net_addr_ntop(AF_INET, &evt.ip4, ip, sizeof(ip));
			(void)zpair_cellular_info(&info);
			printk("attached %s imei %s iccid %s registration %d\n", ip, info.imei,
			       info.iccid, info.registration);
			break;
		case ZPAIR_CELL_EVT_ATTACH_FAILED:
			printk("attach failed: error 0x%02x (status %d)\n", evt.error, evt.status);
			break;
		case ZPAIR_CELL_EVT_DETACHED:
			printk("detached: error 0x%02x\n", evt.error);
			break;
		case ZPAIR_CELL_EVT_REGISTRATION:
			printk("registration %d\n", evt.status);
			break;
		default:
			break;
		}
	}
	return 0;
}
