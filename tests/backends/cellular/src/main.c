/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The cellular backend's flat API against the fake modem: power, attach via the interface's
 * address or the connection manager's L4 event, and the classification of every attach
 * failure into zpair's errors.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/net_if.h>
#include <zephyr/ztest.h>

#include <zpair/shim_backends.h>

#include "fake_modem.h"


#define EVT_TIMEOUT K_SECONDS(3)
#define ATTACH_GIVE_UP K_SECONDS(CONFIG_ZPAIR_CELLULAR_ATTACH_TIMEOUT_S + 3)

struct captured {
	struct zpair_cellular_event evt;
	bool user_ok;
};

K_MSGQ_DEFINE(events, sizeof(struct captured), 16, 4);

static void on_event(const struct zpair_cellular_event *evt, void *user)
{
	struct captured c = {.evt = *evt, .user_ok = user == &events};

	(void)k_msgq_put(&events, &c, K_NO_WAIT);
}

static struct captured expect_event(uint8_t kind, k_timeout_t timeout)
{
	struct captured c;

	zassert_ok(k_msgq_get(&events, &c, timeout), "no event (expected kind %u)", kind);
	zassert_equal(c.evt.kind, kind, "event kind %u (error 0x%02x status %d), expected %u",
		      c.evt.kind, c.evt.error, c.evt.status, kind);
	zassert_true(c.user_ok);
	return c;
}

static void expect_no_event(k_timeout_t timeout)
{
	struct captured c = {0};
	int ret = k_msgq_get(&events, &c, timeout);

	zassert_not_equal(ret, 0, "unexpected event kind %u (error 0x%02x)", c.evt.kind,
			  c.evt.error);
}

static struct in_addr addr(const char *s)
{
	struct in_addr a;

	zassert_ok(net_addr_pton(AF_INET, s, &a));
	return a;
}

static void link_gets_address(void)
{
	struct in_addr a = addr("10.64.1.2");

	zassert_not_null(net_if_ipv4_addr_add(fake_modem_iface(), &a, NET_ADDR_MANUAL, 0));
}

static void link_loses_address(void)
{
	struct in_addr a = addr("10.64.1.2");

	(void)net_if_ipv4_addr_rm(fake_modem_iface(), &a);
}

static void good_modem(void)
{
	strcpy(fake_modem.imei, "490154203237518");
	strcpy(fake_modem.iccid, "8944500102198304826");
	strcpy(fake_modem.imsi, "234150999999999");
}

static void *suite_setup(void)
{
	zassert_not_null(fake_modem_iface());
	zassert_ok(zpair_cellular_set_callback(on_event, &events));
	zassert_true(fake_modem.callback_registered, "subscribed to registration changes");
	return NULL;
}

static void before(void *f)
{
	ARG_UNUSED(f);
	(void)zpair_cellular_modem_detach();
	link_loses_address();
	k_sleep(K_MSEC(50));
	k_msgq_purge(&events);
	fake_modem_reset();
}

ZTEST(zpair_cellular, test_attach_and_detach)
{
	struct zpair_cellular_info info;

	good_modem();
	zassert_ok(zpair_cellular_modem_attach());
	zassert_equal(fake_modem.resumes, 1, "modem powered up");
	zassert_true(net_if_is_admin_up(fake_modem_iface()), "link brought up");
	zassert_equal(zpair_cellular_modem_attach(), -EALREADY);

	fake_modem_set_registration(CELLULAR_REGISTRATION_REGISTERED_HOME);
	struct captured reg = expect_event(ZPAIR_CELL_EVT_REGISTRATION, EVT_TIMEOUT);

	zassert_equal(reg.evt.status, CELLULAR_REGISTRATION_REGISTERED_HOME);

	/* PPP is up: IPCP gave the link its address. */
	link_gets_address();
	struct captured up = expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, addr("10.64.1.2").s_addr);
	zassert_equal(up.evt.error, ZPAIR_ERR_NONE);
	/* The connection manager's L4 event for the same link changes nothing. */
	expect_no_event(K_MSEC(200));
	zassert_equal(zpair_cellular_modem_attach(), -EALREADY);

	zassert_ok(zpair_cellular_info(&info));
	zassert_str_equal(info.imei, "490154203237518");
	zassert_str_equal(info.iccid, "8944500102198304826");
	zassert_equal(info.registration, CELLULAR_REGISTRATION_REGISTERED_HOME,
		      "registered (LTE) beats not registered (GSM, UTRAN)");

	zassert_ok(zpair_cellular_modem_detach());
	struct captured down = expect_event(ZPAIR_CELL_EVT_DETACHED, EVT_TIMEOUT);

	zassert_equal(down.evt.error, ZPAIR_ERR_NONE);
	zassert_equal(fake_modem.suspends, 1, "modem powered down");
	zassert_false(net_if_is_admin_up(fake_modem_iface()), "link down");
	zassert_ok(zpair_cellular_modem_detach(), "idempotent");
	zassert_equal(fake_modem.suspends, 1);
	expect_no_event(K_MSEC(200));
	zassert_equal(zpair_cellular_info(NULL), -EINVAL);
}

ZTEST(zpair_cellular, test_already_connected)
{
	good_modem();
	int ret = net_if_up(fake_modem_iface());

	zassert_true(ret == 0 || ret == -EALREADY, "link up: %d", ret);
	link_gets_address();
	k_sleep(K_MSEC(100));
	zassert_ok(zpair_cellular_modem_attach());
	struct captured up = expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, addr("10.64.1.2").s_addr);
}

ZTEST(zpair_cellular, test_registration_denied_at_once)
{
	good_modem();
	zassert_ok(zpair_cellular_modem_attach());
	fake_modem_set_registration(CELLULAR_REGISTRATION_DENIED);
	expect_event(ZPAIR_CELL_EVT_REGISTRATION, EVT_TIMEOUT);
	struct captured c = expect_event(ZPAIR_CELL_EVT_ATTACH_FAILED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, ZPAIR_ERR_REGISTRATION_DENIED);
	zassert_equal(c.evt.status, CELLULAR_REGISTRATION_DENIED);
	/* No second verdict at the timeout. */
	expect_no_event(ATTACH_GIVE_UP);
}

ZTEST(zpair_cellular, test_sim_missing)
{
	/* The modem answers (IMEI) but has no SIM: no ICCID, no IMSI. */
	strcpy(fake_modem.imei, "490154203237518");
	zassert_ok(zpair_cellular_modem_attach());
	struct captured c = expect_event(ZPAIR_CELL_EVT_ATTACH_FAILED, ATTACH_GIVE_UP);

	zassert_equal(c.evt.error, ZPAIR_ERR_SIM_MISSING);
}

ZTEST(zpair_cellular, test_modem_failure)
{
	/* Powered, but the modem never answered its init script: nothing known. */
	zassert_ok(zpair_cellular_modem_attach());
	struct captured c = expect_event(ZPAIR_CELL_EVT_ATTACH_FAILED, ATTACH_GIVE_UP);

	zassert_equal(c.evt.error, ZPAIR_ERR_MODEM_FAILURE);
}

ZTEST(zpair_cellular, test_attach_timeout_then_late_attach)
{
	good_modem();
	zassert_ok(zpair_cellular_modem_attach());
	/* Searching the whole time (no coverage). */
	struct captured c = expect_event(ZPAIR_CELL_EVT_ATTACH_FAILED, ATTACH_GIVE_UP);

	zassert_equal(c.evt.error, ZPAIR_ERR_ATTACH_TIMEOUT);
	zassert_equal(c.evt.status, CELLULAR_REGISTRATION_SEARCHING);
	zassert_equal(zpair_cellular_modem_attach(), 0, "a failed attach may be retried");
	/* The modem kept trying and the network came up. */
	link_gets_address();
	expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);
}

ZTEST(zpair_cellular, test_denied_found_at_timeout)
{
	/* A driver that reports no registration events: denial is read at the timeout. */
	good_modem();
	zassert_ok(zpair_cellular_modem_attach());
	fake_modem.reg = CELLULAR_REGISTRATION_DENIED;
	struct captured c = expect_event(ZPAIR_CELL_EVT_ATTACH_FAILED, ATTACH_GIVE_UP);

	zassert_equal(c.evt.error, ZPAIR_ERR_REGISTRATION_DENIED);
}

ZTEST(zpair_cellular, test_link_lost)
{
	good_modem();
	zassert_ok(zpair_cellular_modem_attach());
	link_gets_address();
	expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);
	link_loses_address();
	struct captured c = expect_event(ZPAIR_CELL_EVT_DETACHED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, ZPAIR_ERR_LINK_LOST);
	expect_no_event(K_MSEC(200));
	/* PPP comes back by itself. */
	link_gets_address();
	expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);
}

ZTEST(zpair_cellular, test_power_up_failure)
{
	fake_modem.resume_ret = -EIO;
	zassert_equal(zpair_cellular_modem_attach(), -EIO);
	expect_no_event(K_MSEC(200));
	fake_modem.resume_ret = 0;
	good_modem();
	zassert_ok(zpair_cellular_modem_attach(), "nothing left pending");
	link_gets_address();
	expect_event(ZPAIR_CELL_EVT_ATTACHED, EVT_TIMEOUT);
}

ZTEST_SUITE(zpair_cellular, NULL, suite_setup, before, NULL, NULL);
