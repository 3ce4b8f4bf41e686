/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * A fake cellular modem (Zephyr's cellular driver API + device PM) and a dummy interface that
 * stands in for its PPP link. The test scripts what the modem knows and raises its events.
 */
#ifndef FAKE_MODEM_H_
#define FAKE_MODEM_H_

#include <zephyr/drivers/cellular.h>
#include <zephyr/net/net_if.h>

struct fake_modem {
	/* What the modem reports; empty strings mean "not known". */
	char imei[20];
	char iccid[24];
	char imsi[20];
	enum cellular_registration_status reg;
	/* Returned by the PM resume action. */
	int resume_ret;
	/* Recorded. */
	int resumes;
	int suspends;
	bool callback_registered;
};

extern struct fake_modem fake_modem;

void fake_modem_reset(void);
/* Changes the registration status and tells the subscriber, as the driver does. */
void fake_modem_set_registration(enum cellular_registration_status status);
struct net_if *fake_modem_iface(void);

#endif /* FAKE_MODEM_H_ */
