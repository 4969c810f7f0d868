//! Waiting for a condition without fixed sleeps.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The outcome of one attempt of [`eventually`]: `Some`/`Ok` ends the wait.
pub trait Attempt {
    /// What a successful attempt yields.
    type Output;

    /// The value, or a description of why this attempt did not succeed.
    ///
    /// # Errors
    /// The description, when the attempt did not succeed.
    fn into_result(self) -> Result<Self::Output, String>;
}

impl<T> Attempt for Option<T> {
    type Output = T;

    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "returned None".to_owned())
    }
}

impl<T, E: Debug> Attempt for Result<T, E> {
    type Output = T;

    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// Polls `attempt` until it returns `Some`/`Ok`, and returns that value.
///
/// Attempts are spaced 10 ms apart at first, backing off to 200 ms. An attempt still running at
/// the deadline is abandoned.
///
/// # Panics
/// When `deadline` passes first, with the last attempt's error.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let mut n = 0;
/// let got = scalers_testkit::eventually(Duration::from_secs(5), || {
///     n += 1;
///     let ready = n >= 3;
///     async move { ready.then_some(n) }
/// })
/// .await;
/// assert_eq!(got, 3);
/// # }
/// ```
pub async fn eventually<F, Fut, R>(deadline: Duration, mut attempt: F) -> R::Output
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
    R: Attempt,
{
    let end = Instant::now() + deadline;
    let mut pause = Duration::from_millis(10);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let last = match tokio::time::timeout_at(end, attempt()).await {
            Ok(outcome) => match outcome.into_result() {
                Ok(v) => return v,
                Err(e) => e,
            },
            Err(_) => "the attempt was still running at the deadline".to_owned(),
        };
        let now = Instant::now();
        if now >= end {
            panic!("not done after {deadline:?} ({attempts} attempts); last error: {last}");
        }
        tokio::time::sleep_until((now + pause).min(end)).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
