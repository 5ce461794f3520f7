// Progressive enhancement only: every date is shown in UTC by the server; this adds the
// reader's local time as the hover text. The console works the same without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var at = new Date(t.getAttribute("datetime"));
    if (!isNaN(at.getTime())) {
      t.title = at.toLocaleString() + " (your time)";
    }
  });
});
