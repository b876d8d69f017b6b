/* Opens the page: the data and Plotly are inlined gzip-compressed and base64-encoded (a full-scale
 * page is 8 MB instead of 19). The browser inflates them (DecompressionStream), then runs Plotly
 * and the dashboard's script, in that order, as the page's own scripts. */
(function () {
  "use strict";

  async function inflate(id) {
    const packed = atob(document.getElementById(id).textContent);
    const bytes = new Uint8Array(packed.length);
    for (let i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  function run(source) {
    const script = document.createElement("script");
    script.textContent = source;
    document.head.appendChild(script); // runs now, in the page's global scope
  }

  function fail(message) {
    document.body.insertAdjacentHTML("afterbegin", '<p class="page-error"></p>');
    document.body.querySelector(".page-error").textContent = message;
    document.body.dataset.ready = "error";
  }

  if (typeof DecompressionStream !== "function") {
    fail("This browser cannot open the page (it lacks DecompressionStream): " +
         "use a current Chrome, Edge, Firefox or Safari.");
    return;
  }
  Promise.all([inflate("dashboard-data"), inflate("plotly-js")])
    .then(([data, plotly]) => {
      window.DASHBOARD_DATA = JSON.parse(data);
      run(plotly);
      run(document.getElementById("dashboard-app").textContent);
    })
    .catch((err) => {
      console.error(err);
      fail(`The page could not be opened: ${err}`);
    });
})();
