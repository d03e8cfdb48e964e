/* cowscan image DIR: the CRIU image directory reader's entry point. */
#ifndef COWSCAN_IMAGE_CMD_H
#define COWSCAN_IMAGE_CMD_H

/* Runs "cowscan image" with argv[0] == "image". Returns the exit status:
 * 0 on success, 1 on bad usage or an unreadable/corrupt image. */
int cmd_image(int argc, char **argv);

#endif
