// Lab page bootstrap (lab.html).
import './lab-app.ts';
