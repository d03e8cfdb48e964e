/* cowscan image DIR: the CRIU image directory reader's entry point. */
#ifndef COWSCAN_IMAGE_CMD_H
#define COWSCAN_IMAGE_CMD_H

#include "cli.h"

/* Runs "cowscan image DIR". Returns the exit status: 0 on success, 2 on an
 * unreadable or corrupt image. */
int cmd_image(const struct cli_args *a);

#endif
