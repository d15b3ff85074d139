/* Local forwards' listening sockets: TCP and Unix stream. */
#ifndef AZB_FWD_LOCAL_H
#define AZB_FWD_LOCAL_H

#include "fwd.h"

/* Bind every stream endpoint of fr; -errno with the reason logged. */
int fwd_local_start(struct fwd_run *fr);
void fwd_local_stop(struct fwd_run *fr);

#endif
