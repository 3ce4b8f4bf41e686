/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The test's stand-in for the radio only: a modem behind the `modem` alias that implements
 * Zephyr's cellular driver API and device PM (what modem_cellular offers zpair's backend), and
 * a dummy network interface in place of its PPP link. Everything above it is the image's real
 * code: shim/backends/cellular.c, shim/zpair_cellular.c, zpair_net.c and the Rust glue. The IP
 * traffic itself (bind polls, activation) goes through native offloaded sockets to the host.
 *
 * Scripted from the shell, as a user would handle the hardware:
 *   fakemodem sim on|off   insert / remove the SIM (it starts without one)
 *   fakemodem deny         the network denies registration
 * Powered up (PM resume) with a SIM, it registers and brings its link up (an IPv4 address on
 * the interface, as IPCP does) after LINK_DELAY_MS.
 */
#include <string.h>

#include <zephyr/device.h>
#include <zephyr/drivers/cellular.h>
#include <zephyr/kernel.h>
#include <zephyr/net/dummy.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_pkt.h>
#include <zephyr/pm/device.h>
#include <zephyr/shell/shell.h>

#define DT_DRV_COMPAT vnd_zpair_fake_cellular

#define LINK_DELAY_MS 300
#define LINK_ADDR     "10.64.0.2"

static struct {
	bool powered;
	bool sim;
	bool deny;
	enum cellular_registration_status reg;
	cellular_event_cb_t cb;
	void *user;
} m = {.reg = CELLULAR_REGISTRATION_NOT_REGISTERED};

static struct net_if *link_iface;

static void set_registration(enum cellular_registration_status status)
{
	struct cellular_evt_registration_status evt = {.status = status};

	m.reg = status;
	if (m.cb != NULL) {
		m.cb(DEVICE_DT_INST_GET(0), CELLULAR_EVENT_REGISTRATION_STATUS_CHANGED, &evt,
		     m.user);
	}
}

static void link_fn(struct k_work *work)
{
	struct in_addr a;

	ARG_UNUSED(work);
	if (!m.powered || !m.sim) {
		return;
	}
	if (m.deny) {
		set_registration(CELLULAR_REGISTRATION_DENIED);
		return;
	}
	set_registration(CELLULAR_REGISTRATION_REGISTERED_HOME);
	(void)net_addr_pton(AF_INET, LINK_ADDR, &a);
	(void)net_if_ipv4_addr_add(link_iface, &a, NET_ADDR_MANUAL, 0);
	printk("fakemodem: link up (%s)\n", LINK_ADDR);
}

static K_WORK_DELAYABLE_DEFINE(link_work, link_fn);

static void link_down(void)
{
	struct in_addr a;

	(void)net_addr_pton(AF_INET, LINK_ADDR, &a);
	(void)net_if_ipv4_addr_rm(link_iface, &a);
	set_registration(CELLULAR_REGISTRATION_NOT_REGISTERED);
}

static int fake_get_modem_info(const struct device *dev, enum cellular_modem_info_type type,
			       char *info, size_t size)
{
	const char *src = "";

	ARG_UNUSED(dev);
	if (!m.powered) {
		src = "";
	} else if (type == CELLULAR_MODEM_INFO_IMEI) {
		src = "356938035643809";
	} else if (type == CELLULAR_MODEM_INFO_SIM_ICCID && m.sim) {
		src = "8944500102198304826";
	} else if (type == CELLULAR_MODEM_INFO_SIM_IMSI && m.sim) {
		src = "234150123456789";
	}
	strncpy(info, src, size);
	return 0;
}

static int fake_get_registration_status(const struct device *dev,
					enum cellular_access_technology tech,
					enum cellular_registration_status *status)
{
	ARG_UNUSED(dev);
	*status = tech == CELLULAR_ACCESS_TECHNOLOGY_E_UTRAN ? m.reg
							      : CELLULAR_REGISTRATION_NOT_REGISTERED;
	return 0;
}

static int fake_set_callback(const struct device *dev, cellular_event_mask_t mask,
			     cellular_event_cb_t cb, void *user_data)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(mask);
	m.cb = cb;
	m.user = user_data;
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
		m.powered = true;
		printk("fakemodem: powered up (SIM %s)\n", m.sim ? "in" : "missing");
		k_work_reschedule(&link_work, K_MSEC(LINK_DELAY_MS));
		return 0;
	case PM_DEVICE_ACTION_SUSPEND:
		m.powered = false;
		k_work_cancel_delayable(&link_work);
		link_down();
		printk("fakemodem: powered down\n");
		return 0;
	default:
		return -ENOTSUP;
	}
}

static int fake_init(const struct device *dev)
{
	pm_device_init_suspended(dev);
	return 0;
}

PM_DEVICE_DT_INST_DEFINE(0, fake_pm_action);
DEVICE_DT_INST_DEFINE(0, fake_init, PM_DEVICE_DT_INST_GET(0), NULL, NULL, POST_KERNEL,
		      CONFIG_APPLICATION_INIT_PRIORITY, &fake_api);

/* The modem's data link: a dummy interface (its frames go nowhere; sockets are offloaded). */
static void link_iface_init(struct net_if *iface)
{
	static uint8_t mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x03};

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

static int cmd_sim(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	m.sim = strcmp(argv[1], "on") == 0;
	shell_print(sh, "fakemodem: SIM %s", m.sim ? "inserted" : "removed");
	if (m.sim) {
		k_work_reschedule(&link_work, K_MSEC(LINK_DELAY_MS));
	} else if (m.powered) {
		link_down();
	}
	return 0;
}

static int cmd_deny(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	ARG_UNUSED(argv);
	m.deny = true;
	shell_print(sh, "fakemodem: registration will be denied");
	k_work_reschedule(&link_work, K_MSEC(LINK_DELAY_MS));
	return 0;
}

SHELL_STATIC_SUBCMD_SET_CREATE(fakemodem_cmds,
	SHELL_CMD_ARG(sim, NULL, "on|off: insert / remove the SIM", cmd_sim, 2, 0),
	SHELL_CMD_ARG(deny, NULL, "the network denies registration", cmd_deny, 1, 0),
	SHELL_SUBCMD_SET_END);
SHELL_CMD_REGISTER(fakemodem, &fakemodem_cmds, "The test's fake modem", NULL);
