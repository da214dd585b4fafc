#ifndef SINKTRAP_PARENT_H
#define SINKTRAP_PARENT_H

/* `sinktrap run`: conf_path NULL = the embedded default. Returns the exit status. */
int parent_run(const char *conf_path);

#endif
