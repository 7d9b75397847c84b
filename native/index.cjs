'use strict';
module.exports = require('./build/Release/mig_native.node');
