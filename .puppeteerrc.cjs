// Puppeteer must never download its own Chrome: this project runs Debian's chromium (or CHROME_PATH).
module.exports = { skipDownload: true };
