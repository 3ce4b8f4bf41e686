/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <zephyr/device.h>
#include <zephyr/kernel.h>
#include <zephyr/net/dummy.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_pkt.h>
#include <zephyr/pm/device.h>

#include "fake_modem.h"

#define DT_DRV_COMPAT vnd_zpair_fake_cellular

struct fake_modem fake_modem;

static cellular_event_cb_t event_cb;
static void *event_user;

void fake_modem_reset(void)
{
	bool registered = fake_modem.callback_registered;

	memset(&fake_modem, 0, sizeof(fake_modem));
	fake_modem.reg = CELLULAR_REGISTRATION_SEARCHING;
	fake_modem.callback_registered = registered;
}

void fake_modem_set_registration(enum cellular_registration_status status)
{
	struct cellular_evt_registration_status evt = {.status = status};

	fake_modem.reg = status;
	if (event_cb != NULL) {
		event_cb(DEVICE_DT_INST_GET(0), CELLULAR_EVENT_REGISTRATION_STATUS_CHANGED, &evt,
			 event_user);
	}
}

static int fake_get_modem_info(const struct device *dev, enum cellular_modem_info_type type,
			       char *info, size_t size)
{
	const char *src;

	ARG_UNUSED(dev);
	switch (type) {
	case CELLULAR_MODEM_INFO_IMEI:
		src = fake_modem.imei;
		break;
	case CELLULAR_MODEM_INFO_SIM_ICCID:
		src = fake_modem.iccid;
		break;
	case CELLULAR_MODEM_INFO_SIM_IMSI:
		src = fake_modem.imsi;
		break;
	default:
		return -ENODATA;
	}
	/* Like modem_cellular: copies what it has, an empty string when it has nothing. */
	strncpy(info, src, size);
	return 0;
}

static int fake_get_registration_status(const struct device *dev,
					enum cellular_access_technology tech,
					enum cellular_registration_status *status)
{
	ARG_UNUSED(dev);
	/* LTE only: GSM and UTRAN report "not registered". */
	*status = tech == CELLULAR_ACCESS_TECHNOLOGY_E_UTRAN ? fake_modem.reg
							      : CELLULAR_REGISTRATION_NOT_REGISTERED;
	return 0;
}

static int fake_set_callback(const struct device *dev, cellular_event_mask_t mask,
			     cellular_event_cb_t cb, void *user_data)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(mask);
	event_cb = cb;
	event_user = user_data;
	fake_modem.callback_registered = cb != NULL;
	return 0;
}

static const struct cellular_driver_api fake_api = {
	.get_modem_info = fake_get_modem_info,
	.get_registration_status = fake_get_registration_status,
	.set_callback = fake_set_callback,
};

static int fake_pm_action(const struct device *dev, enum pm_device_action action)
{
	ARG_UNUSED(dev);
	switch (action) {
	case PM_DEVICE_ACTION_RESUME:
		fake_modem.resumes++;
		return fake_modem.resume_ret;
	case PM_DEVICE_ACTION_SUSPEND:
		fake_modem.suspends++;
		return 0;
	default:
		return -ENOTSUP;
	}
}

static int fake_init(const struct device *dev)
{
	fake_modem_reset();
	/* Like a modem that is off until someone resumes it. */
	pm_device_init_suspended(dev);
	return 0;
}

PM_DEVICE_DT_INST_DEFINE(0, fake_pm_action);
DEVICE_DT_INST_DEFINE(0, fake_init, PM_DEVICE_DT_INST_GET(0), NULL, NULL, POST_KERNEL,
		      CONFIG_APPLICATION_INIT_PRIORITY, &fake_api);

/* The modem's data link: a dummy interface (no frames leave it). */

static struct net_if *link_iface;

static void link_iface_init(struct net_if *iface)
{
	static uint8_t mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x02};

	link_iface = iface;
	net_if_set_link_addr(iface, mac, sizeof(mac), NET_LINK_DUMMY);
}

static int link_send(const struct device *dev, struct net_pkt *pkt)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(pkt);
	return 0;
}

static const struct dummy_api link_api = {
	.iface_api.init = link_iface_init,
	.send = link_send,
};

NET_DEVICE_INIT(fake_ppp, "fake_ppp", NULL, NULL, NULL, NULL, CONFIG_KERNEL_INIT_PRIORITY_DEFAULT,
		&link_api, DUMMY_L2, NET_L2_GET_CTX_TYPE(DUMMY_L2), 1280);

struct net_if *fake_modem_iface(void)
{
	return link_iface;
}
