/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Persistence over the settings subsystem: the two record slots of zpair_core::storage
 * ("zpair/a", "zpair/b") and the factory data ("zpair/factory").
 *
 * The slots need no atomicity from the backend (the record format survives torn writes), only
 * independence: writing one key never touches the other.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/settings/settings.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

static const char *const slot_keys[] = {
	[ZPAIR_SLOT_A] = "zpair/a",
	[ZPAIR_SLOT_B] = "zpair/b",
	[ZPAIR_SLOT_FACTORY] = "zpair/factory",
};

static const char *slot_key(uint8_t slot)
{
	return slot < ARRAY_SIZE(slot_keys) ? slot_keys[slot] : NULL;
}

int zpair_storage_init(void)
{
	int rc = settings_subsys_init();

	if (rc != 0) {
		LOG_ERR("settings init failed (%d)", rc);
	}
	return rc;
}

struct read_arg {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool found;
	int rc;
};

static int read_cb(const char *key, size_t len, settings_read_cb read, void *cb_arg, void *param)
{
	struct read_arg *arg = param;
	size_t want = MIN(len, arg->cap);

	/* Exactly the slot's key, not a longer name below it. */
	if (key != NULL && key[0] != '\0') {
		return 0;
	}
	arg->found = true;
	arg->len = len;
	arg->rc = 0;
	if (want > 0) {
		/* Backends copy min(want, stored length) and may return the stored length. */
		ssize_t n = read(cb_arg, arg->buf, want);

		if (n < 0) {
			arg->rc = (int)n;
		}
	}
	return 1;
}

int zpair_storage_read(uint8_t slot, uint8_t *buf, size_t cap, size_t *len)
{
	const char *key = slot_key(slot);
	struct read_arg arg = {.buf = buf, .cap = buf == NULL ? 0 : cap};
	int rc;

	if (key == NULL || len == NULL) {
		return -EINVAL;
	}
	*len = 0;
	rc = settings_load_subtree_direct(key, read_cb, &arg);
	if (rc != 0) {
		LOG_WRN("reading %s failed (%d)", key, rc);
		return rc < 0 ? rc : -EIO;
	}
	if (!arg.found) {
		return -ENOENT;
	}
	if (arg.rc != 0) {
		LOG_WRN("reading %s failed (%d)", key, arg.rc);
		return arg.rc;
	}
	*len = arg.len;
	return 0;
}

int zpair_storage_write(uint8_t slot, const uint8_t *data, size_t len)
{
	const char *key = slot_key(slot);
	int rc;

	if (key == NULL || (data == NULL && len > 0)) {
		return -EINVAL;
	}
	rc = settings_save_one(key, data, len);
	if (rc != 0) {
		LOG_WRN("writing %s failed (%d)", key, rc);
	}
	return rc;
}

int zpair_storage_erase(uint8_t slot)
{
	const char *key = slot_key(slot);
	int rc;

	if (key == NULL) {
		return -EINVAL;
	}
	rc = settings_delete(key);
	if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc != 0) {
		LOG_WRN("erasing %s failed (%d)", key, rc);
	}
	return rc;
}
