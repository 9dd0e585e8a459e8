// The maintenance page's only script (served from the lane itself, no library). It keeps the page live:
// vehicle rows arrive over server-sent events (GET events) already rendered by the lane; the state panels
// are re-fetched as one rendered fragment (GET fragment/state) when the lane reports a change and every
// 10 s. Without this script the page still shows everything as of its load, and search still works.
(() => {
  const FEED_ROWS = 50;
  const feed = document.getElementById("feed");
  const count = document.getElementById("feed-count");
  const state = document.getElementById("state");
  const live = document.getElementById("live");
  let pending = null;

  function setLive(ok) {
    live.className = ok ? "badge ok" : "badge bad";
    live.innerHTML = ok ? '实时 <span class="en">live</span>' : '已断开 <span class="en">disconnected</span>';
  }

  function refreshState() {
    if (pending) return;
    pending = fetch("fragment/state", { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
      .then((html) => {
        state.innerHTML = html;
      })
      .catch(() => setLive(false))
      .finally(() => {
        pending = null;
      });
  }

  const es = new EventSource("events", { withCredentials: true });
  es.addEventListener("open", () => setLive(true));
  es.addEventListener("error", () => setLive(false));
  es.addEventListener("vehicle", (e) => {
    const v = JSON.parse(e.data);
    if (feed.querySelector(`tr[data-seq="${v.seq}"]`)) return;
    feed.insertAdjacentHTML("afterbegin", v.row);
    while (feed.rows.length > FEED_ROWS) feed.deleteRow(feed.rows.length - 1);
    count.textContent = String(Number(count.textContent) + 1);
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
