/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * state.h - blocks and penalties across reboots.
 *
 * The daemon snapshots every sanction to a gzip file (zlib) with wall-clock
 * expiries; `load` restores those not yet expired.  The format is text,
 * one sanction a line, so an admin can read it with zcat.
 */
#ifndef MX_STATE_H
#define MX_STATE_H

#include "loader.h"

/* Write atomically (temp file + rename).  Returns 0 or -1 (reported). */
int mx_state_save(const struct mx_maps *m, const char *path);
/* Restore unexpired entries.  A missing file is not an error (returns 0);
 * a corrupt line is skipped with a warning.  Returns entries restored or -1. */
int mx_state_restore(const struct mx_maps *m, const char *path);

#endif
