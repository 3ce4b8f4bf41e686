/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Test bookkeeping across reboots: the phase reached (settings key "zt/phase") and whether
 * this boot is a warm reboot (the simulated power cut) or a fresh start.
 */
#include <errno.h>
#include <stdint.h>

#include <zephyr/drivers/hwinfo.h>
#include <zephyr/settings/settings.h>

static int phase_cb(const char *key, size_t len, settings_read_cb read, void *cb_arg,
		    void *param)
{
	uint8_t *out = param;

	if ((key != NULL && key[0] != '\0') || len != 1) {
		return 0;
	}
	if (read(cb_arg, out, 1) != 1) {
		*out = 0xff;
	}
	return 1;
}

int zt_phase_get(void)
{
	uint8_t phase = 0xff;

	if (settings_subsys_init() != 0 ||
	    settings_load_subtree_direct("zt/phase", phase_cb, &phase) != 0) {
		return -EIO;
	}
	return phase == 0xff ? -ENOENT : phase;
}

int zt_phase_set(uint8_t phase)
{
	return settings_save_one("zt/phase", &phase, 1);
}

int zt_boot_is_reboot(void)
{
	uint32_t cause = 0;

	if (hwinfo_get_reset_cause(&cause) != 0) {
		return 0;
	}
	return (cause & RESET_SOFTWARE) != 0;
}
