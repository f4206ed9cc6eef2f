// Third-party ONVIF client (npm "onvif", agsh/onvif) reads one camera: prints one JSON line.
const { Cam } = require('onvif');
const [host, port, username, password] = process.argv.slice(2);
const cam = new Cam({ hostname: host, port: Number(port), username, password, timeout: 5000, autoconnect: false });
cam.connect((err) => {
  if (err) { console.log(JSON.stringify({ ok: false, error: String(err.message || err) })); process.exit(0); }
  cam.getDeviceInformation((err2, info) => {
    if (err2) { console.log(JSON.stringify({ ok: false, error: String(err2.message || err2) })); process.exit(0); }
    cam.getStreamUri({ protocol: 'RTSP' }, (err3, stream) => {
      if (err3) { console.log(JSON.stringify({ ok: false, error: String(err3.message || err3) })); process.exit(0); }
      console.log(JSON.stringify({ ok: true, info, uri: stream.uri }));
      process.exit(0);
    });
  });
});
