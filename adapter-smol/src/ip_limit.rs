//! Connections per client address (`max_connections_per_ip`): a count per address, held by a
//! guard for as long as the connection lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections by client address.
#[derive(Debug, Default)]
pub(crate) struct IpLimiter {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's share of its address's count; released on drop.
#[derive(Debug)]
pub(crate) struct IpGuard {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl IpLimiter {
    /// Counts a connection from `ip`, unless `ip` already holds `limit` (0: no limit, nothing
    /// counted).
    pub(crate) fn acquire(
        self: &Arc<Self>,
        ip: IpAddr,
        limit: usize,
    ) -> Result<Option<IpGuard>, ()> {
        if limit == 0 {
            return Ok(None);
        }
        let mut open = self.open.lock().map_err(|_| ())?;
        let n = open.entry(ip).or_default();
        if *n >= limit {
            return Err(());
        }
        *n += 1;
        Ok(Some(IpGuard {
            limiter: Arc::clone(self),
            ip,
        }))
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        self.open
            .lock()
            .map(|m| m.get(&ip).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limiter.open.lock() {
            if let Some(n) = open.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    // Addresses come and go: keep only those with connections.
                    open.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_the_limit_and_a_closed_connection_frees_its_place() {
        let limiter = Arc::new(IpLimiter::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limiter.acquire(a, 2).unwrap();
        let second = limiter.acquire(a, 2).unwrap();
        assert!(limiter.acquire(a, 2).is_err());
        assert!(limiter.acquire(b, 2).unwrap().is_some());
        drop(first);
        assert_eq!(limiter.count(a), 1);
        assert!(limiter.acquire(a, 2).unwrap().is_some());
        drop(second);
        assert!(limiter.acquire(a, 0).unwrap().is_none(), "0 counts nothing");
    }
}
