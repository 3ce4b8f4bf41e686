/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * zpair's log module, for a tree whose shim has no shim/zpair_core.c (which registers it):
 * the backends only declare it. See CMakeLists.txt.
 */
#include <zephyr/logging/log.h>

LOG_MODULE_REGISTER(zpair, CONFIG_ZPAIR_LOG_LEVEL);
