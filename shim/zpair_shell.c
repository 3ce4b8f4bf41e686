/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The "zpair" shell commands. Each one is executed by the zpair thread (it owns the pairing
 * state); the shell waits for its answer.
 *
 *   zpair status                         state, mode, last error, identity
 *   zpair start [softap|ble|wired|cellular|all]   open the pairing window
 *   zpair stop                           close the window / abort the pairing in progress
 *   zpair reset [network|factory]        forget the network / erase the pairing state
 *   zpair payload                        setup payload string and its QR code
 *   zpair factory <hex>                  write the factory data (308 hex digits, 154 bytes)
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/shell/shell.h>
#include <zephyr/sys/util.h>

#include "zpair_internal.h"

/* 154 bytes of factory data as hex on one line, plus "zpair factory ". */
#define FACTORY_HEX_LINE (14 + 2 * 154)
#if CONFIG_SHELL_CMD_BUFF_SIZE <= FACTORY_HEX_LINE
#warning "CONFIG_SHELL_CMD_BUFF_SIZE is too small for 'zpair factory <hex>' (needs > 322)"
#endif

static int report(const struct shell *sh, int rc)
{
	switch (rc) {
	case 0:
		break;
	case -ENODEV:
		shell_error(sh, "zpair is not running (the application did not start it)");
		break;
	case -EBUSY:
		shell_error(sh, "zpair is busy with an earlier command");
		break;
	case -ETIMEDOUT:
		shell_error(sh, "zpair did not answer in time");
		break;
	default:
		shell_error(sh, "failed (%d)", rc);
		break;
	}
	return rc;
}

static int cmd_status(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	ARG_UNUSED(argv);
	return report(sh, zpair_cmd_run(sh, ZPAIR_CMD_STATUS, 0, NULL, 0));
}

static int cmd_start(const struct shell *sh, size_t argc, char **argv)
{
	static const char *const names[] = {
		[ZPAIR_MODE_SOFTAP] = "softap",
		[ZPAIR_MODE_BLE] = "ble",
		[ZPAIR_MODE_WIRED] = "wired",
		[ZPAIR_MODE_CELLULAR] = "cellular",
	};
	uint32_t modes = 0;

	for (size_t i = 1; i < argc; i++) {
		uint32_t bit = 0;

		if (strcmp(argv[i], "all") == 0) {
			modes = 0;
			break;
		}
		for (size_t m = 0; m < ARRAY_SIZE(names); m++) {
			if (strcmp(argv[i], names[m]) == 0) {
				bit = BIT(m);
			}
		}
		if (bit == 0) {
			shell_error(sh, "unknown mode '%s' (softap, ble, wired, cellular, all)",
				    argv[i]);
			return -EINVAL;
		}
		if (!(zpair_modes_enabled() & bit)) {
			shell_error(sh, "mode '%s' is not enabled in this build", argv[i]);
			return -ENOTSUP;
		}
		modes |= bit;
	}
	return report(sh, zpair_cmd_run(sh, ZPAIR_CMD_START, modes, NULL, 0));
}

static int cmd_stop(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	ARG_UNUSED(argv);
	return report(sh, zpair_cmd_run(sh, ZPAIR_CMD_STOP, 0, NULL, 0));
}

static int cmd_reset(const struct shell *sh, size_t argc, char **argv)
{
	enum zpair_cmd cmd = ZPAIR_CMD_RESET_NETWORK;

	if (argc > 1) {
		if (strcmp(argv[1], "factory") == 0) {
			cmd = ZPAIR_CMD_RESET_FACTORY;
		} else if (strcmp(argv[1], "network") != 0) {
			shell_error(sh, "usage: zpair reset [network|factory]");
			return -EINVAL;
		}
	}
	return report(sh, zpair_cmd_run(sh, cmd, 0, NULL, 0));
}

static int cmd_payload(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	ARG_UNUSED(argv);
	return report(sh, zpair_cmd_run(sh, ZPAIR_CMD_PAYLOAD, 0, NULL, 0));
}

static int cmd_factory(const struct shell *sh, size_t argc, char **argv)
{
	uint8_t data[CONFIG_ZPAIR_CMD_DATA_MAX];
	size_t total = 0;

	/* The hex may be split over several arguments. */
	for (size_t i = 1; i < argc; i++) {
		size_t hex_len = strlen(argv[i]);
		size_t n;

		if (hex_len % 2 != 0 || total + hex_len / 2 > sizeof(data)) {
			shell_error(sh, "expected up to %u bytes as hex digits (pairs)",
				    (unsigned int)sizeof(data));
			return -EINVAL;
		}
		n = hex2bin(argv[i], hex_len, data + total, sizeof(data) - total);
		if (n != hex_len / 2) {
			shell_error(sh, "not hex: '%s'", argv[i]);
			return -EINVAL;
		}
		total += n;
	}
	if (total == 0) {
		shell_error(sh, "usage: zpair factory <hex of the factory data>");
		return -EINVAL;
	}
	return report(sh, zpair_cmd_run(sh, ZPAIR_CMD_FACTORY, 0, data, total));
}

SHELL_STATIC_SUBCMD_SET_CREATE(sub_zpair,
	SHELL_CMD_ARG(status, NULL, "Pairing state, mode, last error and identity", cmd_status,
		      1, 0),
	SHELL_CMD_ARG(start, NULL, "Open the pairing window: [softap|ble|wired|cellular|all]",
		      cmd_start, 1, 4),
	SHELL_CMD_ARG(stop, NULL, "Close the pairing window or abort the pairing", cmd_stop, 1,
		      0),
	SHELL_CMD_ARG(reset, NULL, "Forget the network (default) or everything: [network|factory]",
		      cmd_reset, 1, 1),
	SHELL_CMD_ARG(payload, NULL, "Setup payload and QR code (devices with a stored code)",
		      cmd_payload, 1, 0),
	SHELL_CMD_ARG(factory, NULL, "Write factory data: <hex> (may be split into parts)",
		      cmd_factory, 2, 8),
	SHELL_SUBCMD_SET_END);

SHELL_CMD_REGISTER(zpair, &sub_zpair, "zpair device pairing", NULL);
