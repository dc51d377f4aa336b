/* A tiny portable mutex: the library's only threading primitive. */
#ifndef MG_CORE_MUTEX_H
#define MG_CORE_MUTEX_H

#if defined(_WIN32)
#include <windows.h>
typedef SRWLOCK mg_mutex;
static inline void mg_mutex_init(mg_mutex *m) { InitializeSRWLock(m); }
static inline void mg_mutex_destroy(mg_mutex *m) { (void)m; }
static inline void mg_mutex_lock(mg_mutex *m) { AcquireSRWLockExclusive(m); }
static inline void mg_mutex_unlock(mg_mutex *m) { ReleaseSRWLockExclusive(m); }
#else
#include <pthread.h>
typedef pthread_mutex_t mg_mutex;
static inline void mg_mutex_init(mg_mutex *m) { pthread_mutex_init(m, NULL); }
static inline void mg_mutex_destroy(mg_mutex *m) { pthread_mutex_destroy(m); }
static inline void mg_mutex_lock(mg_mutex *m) { pthread_mutex_lock(m); }
static inline void mg_mutex_unlock(mg_mutex *m) { pthread_mutex_unlock(m); }
#endif

#endif
