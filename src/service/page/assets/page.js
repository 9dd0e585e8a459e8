// The maintenance page's only script (served from the lane itself, no library). It keeps the page live:
// vehicle rows arrive over server-sent events (GET events) already rendered by the lane; the state panels
// are re-fetched as one rendered fragment (GET fragment/state) when the lane reports a change, when the
// feed (re)connects and every 10 s. Without this script the page still shows everything as of its load,
// and search still works.
// The feed count (#feed-count) counts the rows this page has shown since it was loaded: those at load,
// then each one added (a vehicle, a booth record, one the feed's `recent` event fills in); not the ones
// dropped past FEED_ROWS, and not a settlement, which replaces its vehicle's row.
(() => {
  const FEED_ROWS = 50;
  const feed = document.getElementById("feed");
  const count = document.getElementById("feed-count");
  const state = document.getElementById("state");
  const live = document.getElementById("live");
  let pending = null;
  // the header's badge: the feed's connection, and whether the last refresh of the state panels worked
  // (one that failed must not read "disconnected" for good while the feed stays up)
  let feedOpen = false;
  let stateFresh = true;

  function showLive() {
    if (!feedOpen) {
      live.className = "badge bad";
      live.innerHTML = '已断开 <span class="en">disconnected</span>';
    } else if (!stateFresh) {
      live.className = "badge warn";
      live.innerHTML = '状态未更新 <span class="en">state not refreshed</span>';
    } else {
      live.className = "badge ok";
      live.innerHTML = '实时 <span class="en">live</span>';
    }
  }

  function refreshState() {
    if (pending) return;
    pending = fetch("fragment/state", { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
      .then((html) => {
        state.innerHTML = html;
        stateFresh = true;
      })
      .catch(() => {
        stateFresh = false;
      })
      .finally(() => {
        pending = null;
        showLive();
      });
  }

  function added() {
    while (feed.rows.length > FEED_ROWS) feed.deleteRow(feed.rows.length - 1);
    count.textContent = String(Number(count.textContent) + 1);
  }

  const es = new EventSource("events", { withCredentials: true });
  // (re)connected: what changed while the feed was down is in the state panels, fetched again, and in
  // the `recent` event the lane sends first
  es.addEventListener("open", () => {
    feedOpen = true;
    showLive();
    refreshState();
  });
  es.addEventListener("error", () => {
    feedOpen = false;
    showLive();
  });
  es.addEventListener("vehicle", (e) => {
    const v = JSON.parse(e.data);
    if (feed.querySelector(`tr[data-seq="${v.seq}"]`)) return;
    feed.insertAdjacentHTML("afterbegin", v.row);
    added();
  });
  // the first event of each connection: the lane's last transactions, newest first, as they are now. A
  // row the page has is replaced (a suspect settled while the feed was down); one it lacks (a vehicle
  // that finished before the feed connected, or while it was down) is added in its place by sequence
  // number, the order in which the lane finished them; one older than the FEED_ROWS kept is not added
  es.addEventListener("recent", (e) => {
    const { rows } = JSON.parse(e.data);
    for (let i = rows.length - 1; i >= 0; i--) {
      const v = rows[i];
      const have = feed.querySelector(`tr[data-seq="${v.seq}"]`);
      if (have) {
        have.outerHTML = v.row;
        continue;
      }
      const older = Array.prototype.find.call(feed.rows, (r) => Number(r.dataset.seq) < v.seq);
      if (older) older.insertAdjacentHTML("beforebegin", v.row);
      else if (feed.rows.length < FEED_ROWS) feed.insertAdjacentHTML("beforeend", v.row);
      else continue;
      added();
    }
  });
  // a suspect settled later (a late B5/B8, by hand): the same vehicle, its row replaced where it is; a
  // row no longer on the page is not added (it is not a new vehicle)
  es.addEventListener("settlement", (e) => {
    const v = JSON.parse(e.data);
    const row = feed.querySelector(`tr[data-seq="${v.seq}"]`);
    if (row) row.outerHTML = v.row;
  });
  for (const type of ["lane", "link", "alarm", "booth", "status-list"])
    es.addEventListener(type, refreshState);
  setInterval(refreshState, 10000);
})();
